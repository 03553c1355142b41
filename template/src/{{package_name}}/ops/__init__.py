"""Operations: metrics, the triggers that say when a cell should leave the process, and
the runbooks (executable, dry-run by default) that move it."""
