"""`python -m <package>` runs the same CLI as the installed command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
