# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The template-owned core: messages, bus, cells, registry, composition root, storage.

Cells import from here (and from their own package) and from nothing else in the project.
"""
