# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The framework's own tests (the template's), apart from the project's: `uv run pytest
tests/cellforge`. A package, so its modules are `cellforge.*` to mypy and to each other."""
