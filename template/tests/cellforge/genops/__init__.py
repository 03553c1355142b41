"""The framework's tests of `src/<package>/genops/`."""
