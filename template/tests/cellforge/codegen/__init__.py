# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The framework's tests of `src/<package>/codegen/`."""
