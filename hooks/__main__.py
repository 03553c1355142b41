# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Run the hooks from a template checkout: `python <template>/hooks <command> ...`.

Copier's tasks use this form: it needs only the interpreter that runs copier, because
running a folder puts that folder on `sys.path`, which makes `cellforge_hooks` importable.
"""

from cellforge_hooks.cli import main

raise SystemExit(main())
