# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Cellforge's hooks: what copier tasks (and later pre-commit) run on a generated project.

- `skeleton`: create missing cells from the skeleton, never touching an existing one.
- `derived`: refresh the files the project derives from its cell registry.
- `cli`: the command line both copier and pre-commit call.
"""
