"""The framework's tests of `src/<package>/metrics/`."""
