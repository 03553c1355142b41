# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The public API a cell is written against, as documented signatures, not whole files.

A model regenerating a cell needs to know what `core` offers (the messages, the cell
declaration, its context, the bus, its records, the model client) but not how it is done:
signatures and the first line of each docstring are about a tenth of the source's size,
and they change only when the API does. Read from the source with `ast`, so nothing is
imported and the text is the same on every machine.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ..core.names import PACKAGE

# The modules a cell imports (the import contracts allow cells `core` and `llm` only).
CORE_API = (
    "core/messages.py",
    "core/cells.py",
    "core/cellbus.py",
    "core/bus.py",
    "core/storage.py",
    "llm/client.py",
)


def core_api(source: Path) -> str:
    """The signatures of `CORE_API`'s public names, module by module; `source` is
    `src/<package>`."""
    sections = []
    for relative in CORE_API:
        path = source / relative
        if path.is_file():
            module = f"{PACKAGE}.{relative.removesuffix('.py').replace('/', '.')}"
            sections.append(f"# {module}\n{signatures(path.read_text(encoding='utf-8'))}")
    return "\n\n".join(sections)


def signatures(text: str) -> str:
    """`text`'s public classes and functions: signatures, fields and docstring lines."""
    tree = ast.parse(text)
    lines = _doc(tree, "")
    for node in tree.body:
        lines += _node(node, "")
    return "\n".join(lines)


def _node(node: ast.stmt, indent: str) -> list[str]:
    if isinstance(node, ast.ClassDef) and _public(node.name):
        bases = ", ".join(ast.unparse(base) for base in node.bases)
        lines = [f"{indent}@{ast.unparse(item)}" for item in node.decorator_list]
        lines.append(f"{indent}class {node.name}{f'({bases})' if bases else ''}:")
        lines += _doc(node, indent + "    ")
        for child in node.body:
            lines += _member(child, indent + "    ")
        return lines
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
        return [_def(node, indent), *_doc(node, indent + "    ")]
    return []


def _member(node: ast.stmt, indent: str) -> list[str]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        if _public(node.target.id):
            default = f" = {ast.unparse(node.value)}" if node.value is not None else ""
            return [f"{indent}{node.target.id}: {ast.unparse(node.annotation)}{default}"]
        return []
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
        _public(node.name) or node.name == "__init__"
    ):
        return [_def(node, indent), *_doc(node, indent + "    ")]
    return []


def _def(node: ast.FunctionDef | ast.AsyncFunctionDef, indent: str) -> str:
    keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    decorators = "".join(
        f"{indent}@{ast.unparse(item)}\n"
        for item in node.decorator_list
        if ast.unparse(item) in ("property", "classmethod", "staticmethod")
    )
    return f"{decorators}{indent}{keyword} {node.name}({ast.unparse(node.args)}){returns}: ..."


def _doc(node: ast.AST, indent: str) -> list[str]:
    """The docstring's first paragraph, as a comment."""
    if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return []
    text = ast.get_docstring(node)
    if not text:
        return []
    first = " ".join(text.split("\n\n", 1)[0].split())
    return [f"{indent}# {first}"]


def _public(name: str) -> bool:
    return not name.startswith("_")
