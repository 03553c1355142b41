# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
from .cli import main

raise SystemExit(main())
