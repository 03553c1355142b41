"""The framework's tests of `src/<package>/core/`."""
