# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Blueprint migrations that copier's `_migrations` run when a project crosses a version.

`rename-key` renames one key in `blueprint.yml` in place: the key's text is spliced out
of the file at the position YAML reports, so the value, the comments and the layout of
the user's file are all kept.
"""

from __future__ import annotations

from pathlib import Path


def rename_key(path: Path, old: str, new: str) -> bool:
    """Rename the key at dotted path `old` to the last part of `new`; False if absent."""
    # optional integration: pyyaml (post-render also runs as `python -S`, without it)
    import yaml

    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text)
    *parents, leaf = old.split(".")
    new_leaf = new.split(".")[-1]
    if new.rsplit(".", 1)[0] != old.rsplit(".", 1)[0] and "." in old:
        raise ValueError("rename-key renames a key in place; it cannot move it")
    for step in parents:
        node = next((v for k, v in getattr(node, "value", []) if k.value == step), None)
        if not isinstance(node, yaml.MappingNode):
            return False
    if not isinstance(node, yaml.MappingNode):
        return False  # an empty file, or a top level that is not a mapping
    for key, _value in node.value:
        if key.value == leaf:
            start, end = key.start_mark.index, key.end_mark.index
            path.write_text(text[:start] + new_leaf + text[end:], encoding="utf-8")
            return True
    return False
