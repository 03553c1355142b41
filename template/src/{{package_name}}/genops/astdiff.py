"""Per-symbol fingerprints of Python source that ignore how the code is written.

A change that only reformats, re-comments, re-documents or renames local variables
leaves every fingerprint equal; anything that can change behaviour changes one. The
fingerprint of a symbol is the sha256 of `ast.dump(..., include_attributes=False)` of
its normalised tree: docstrings dropped, and local variables (names bound in a function
that are neither parameters nor declared `global`/`nonlocal`) renamed to placeholders
numbered in order of first use. Parameters keep their names: callers may pass them by
keyword.

The symbols of a module are its functions and methods (qualified; nested functions are
part of the function that holds them), each class's own statements (bases, decorators,
attributes; its methods are symbols of their own) and the module's own top-level
statements (named by the module itself). The AST differs between Python versions, so
fingerprints are comparable only when computed by the same version: `PYTHON` says which.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

PYTHON = f"py{sys.version_info.major}.{sys.version_info.minor}"

Change = Literal["added", "removed", "semantic", "cosmetic"]
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Symbol:
    """One symbol: the hash of its normalised tree and its text as written."""

    digest: str
    text: str


def symbols(source: str, module: str) -> dict[str, Symbol]:
    """The symbols of a module's source, by qualified name (`module.Class.method`)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found: dict[str, Symbol] = {}
    _collect(tree, module, lines, found)
    return found


def classify(old: dict[str, Symbol], new: dict[str, Symbol]) -> dict[str, Change]:
    """How each symbol that differs changed; symbols written identically are left out."""
    changes: dict[str, Change] = {}
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None:
            changes[name] = "added"
        elif after is None:
            changes[name] = "removed"
        elif before.digest != after.digest:
            changes[name] = "semantic"
        elif before.text != after.text:
            changes[name] = "cosmetic"
    return changes


def _collect(
    scope: ast.Module | ast.ClassDef, name: str, lines: list[str], found: dict[str, Symbol]
) -> None:
    """Record `scope`'s own statements as `name`, then each function and class in it."""
    definitions = [node for node in scope.body if isinstance(node, (*FUNCTIONS, ast.ClassDef))]
    own = copy.copy(scope)  # shallow: only its body list is replaced
    own.body = [node for node in _without_docstring(scope.body) if node not in definitions]
    if isinstance(scope, ast.ClassDef):
        span = (_first_line(scope), scope.end_lineno or scope.lineno)
    else:
        span = (1, len(lines))
    holes = [(_first_line(node), node.end_lineno or node.lineno) for node in definitions]
    _record(found, name, own, lines, span, holes)
    for node in definitions:
        qualified = f"{name}.{node.name}"
        if isinstance(node, ast.ClassDef):
            _collect(node, _unique(qualified, found), lines, found)
        else:
            span = (_first_line(node), node.end_lineno or node.lineno)
            _record(found, _unique(qualified, found), _normalised(node), lines, span, [])


def _record(
    found: dict[str, Symbol],
    name: str,
    tree: ast.AST,
    lines: list[str],
    span: tuple[int, int],
    holes: list[tuple[int, int]],
) -> None:
    dump = ast.dump(tree, include_attributes=False)
    kept = [
        lines[number - 1]
        for number in range(span[0], span[1] + 1)
        if not any(start <= number <= end for start, end in holes)
    ]
    found[name] = Symbol(hashlib.sha256(dump.encode()).hexdigest(), "\n".join(kept))


def _unique(name: str, found: dict[str, Symbol]) -> str:
    """`name`, or `name#2`, `name#3`... for a redefinition (overloads, property setters)."""
    if name not in found:
        return name
    count = 2
    while f"{name}#{count}" in found:
        count += 1
    return f"{name}#{count}"


def _first_line(node: Definition) -> int:
    return min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


def _normalised(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
    """A copy of `function` without docstrings and with its locals renamed `_v0`, `_v1`..."""
    tree = copy.deepcopy(function)
    for node in ast.walk(tree):
        if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            node.body = _without_docstring(node.body) or [ast.Pass()]
    local = _locals(tree)
    renamed: dict[str, str] = {}
    for node in _in_order(tree):
        if isinstance(node, ast.Name) and node.id in local:
            node.id = renamed.setdefault(node.id, f"_v{len(renamed)}")
        elif isinstance(node, ast.ExceptHandler) and node.name in local:
            node.name = renamed.setdefault(node.name, f"_v{len(renamed)}")
    return tree


def _locals(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names bound by assignment in `function` (nested scopes included), except its
    parameters, the names it declares `global` or `nonlocal`, and any name assigned in
    the body of a nested class (that is an attribute name, which callers see)."""
    arguments = function.args
    parameters = {
        argument.arg
        for argument in [
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *([arguments.vararg] if arguments.vararg else []),
            *([arguments.kwarg] if arguments.kwarg else []),
        ]
    }
    bound: set[str] = set()
    declared: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.ClassDef):
            declared.update(
                name.id
                for name in ast.walk(node)
                if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store)
            )
    return bound - parameters - declared


def _in_order(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node`, depth first in source order (so numbering is stable)."""
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _in_order(child)
