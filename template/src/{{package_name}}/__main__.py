# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`python -m <package>` runs the same CLI as the installed command.

It exists for the places where the console script is not on PATH: the project's own
checks run `python -m <package> explain --check` with the test interpreter, and a
container or CI job can call the module without knowing where uv put the script.
"""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
