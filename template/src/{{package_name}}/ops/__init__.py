# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Operations: metrics, the triggers that say when a cell should leave the process, and
the runbooks (executable, dry-run by default) that move it.

They are kept apart from `core/` because they act on the service from the outside: they
judge what it measured, and change where a cell runs through `blueprint.yml` (and the
deploy/ files generated from it), never through a cell's code.
"""
