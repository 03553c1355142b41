"""Your cells, one package each. This folder belongs to you: re-applying the template
creates a missing cell from the skeleton but never overwrites or deletes one.
"""
