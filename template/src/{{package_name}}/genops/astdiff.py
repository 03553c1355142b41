# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Per-symbol fingerprints of Python source that ignore how the code is written.

A change that only reformats, re-comments, re-documents or renames local variables
leaves every fingerprint equal; anything that can change behaviour changes one. The
fingerprint of a symbol is the sha256 of `ast.dump(..., include_attributes=False)` of
its normalised tree: docstrings dropped, and local variables renamed to placeholders
numbered in order of first use. A use of a name is a local variable when, by Python's
scoping rules, it refers to a binding made inside the function (in its body, or in a
nested function, lambda or comprehension); one placeholder per binding, so a
comprehension variable and a global of the same name stay apart. Parameters (of the
function, and of the functions and lambdas in it), globals, builtins and class
attributes keep their names: callers may pass parameters by keyword, and the others are
shared with code outside the function.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.util import decode_source
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


def symbols(source: str | bytes, module: str) -> dict[str, Symbol]:
    """The symbols of a module's source, by qualified name (`module.Class.method`).
    Bytes are decoded as Python does: by their PEP 263 declaration, else as UTF-8."""
    tree = ast.parse(source)
    text = decode_source(source) if isinstance(source, bytes) else source
    lines = text.splitlines()
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
    bindings = _Resolver(tree).bindings()
    renamed: dict[tuple[int, str], str] = {}
    for node in _in_order(tree):
        key = bindings.get(id(node))
        if key is None:
            continue
        placeholder = renamed.setdefault(key, f"_v{len(renamed)}")
        if isinstance(node, ast.Name):
            node.id = placeholder
        elif isinstance(node, ast.ExceptHandler):
            node.name = placeholder
    return tree


@dataclass
class _Scope:
    """One scope of a function: what it binds and declares, and the scope around it."""

    kind: Literal["function", "class", "comprehension"]
    parent: _Scope | None
    bound: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)


Occurrence = ast.Name | ast.ExceptHandler
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


class _Resolver:
    """Python's name resolution inside one function, scope by scope.

    A name is local when it is bound in the function or a scope nested in it (a nested
    function, lambda or comprehension) and resolves to that binding from where it is
    used. Parameters of the function itself, names declared `global`, names bound in a
    class body (attributes, which callers see) and names that resolve to nothing inside
    the function (globals, builtins) keep their names. Defaults, decorators and
    annotations are evaluated in the scope around the definition they belong to, and the
    first iterable of a comprehension in the scope around the comprehension.
    """

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.top = _Scope("function", None)
        self.kept = _parameters(function.args)
        self.occurrences: list[tuple[Occurrence, str, _Scope]] = []
        self.top.bound |= self.kept
        for statement in function.body:
            self.visit(statement, self.top)

    def bindings(self) -> dict[int, tuple[int, str]]:
        """id of each Name or except handler that is a local -> (its scope, its name)."""
        found = {}
        for node, name, scope in self.occurrences:
            owner = self.resolve(name, scope)
            if owner is None or (owner is self.top and name in self.kept):
                continue
            found[id(node)] = (id(owner), name)
        return found

    def resolve(self, name: str, scope: _Scope) -> _Scope | None:
        """The scope of the function whose binding `name` refers to from `scope`;
        None when it is global, builtin, a class attribute or bound outside."""
        if name in scope.globals:
            return None
        if scope.kind == "class":
            return None if name in scope.bound else self.free(name, scope.parent)
        if name in scope.nonlocals or name not in scope.bound:
            return self.free(name, scope.parent)
        return scope

    def free(self, name: str, scope: _Scope | None) -> _Scope | None:
        """Where a free variable resolves: the nearest enclosing non-class scope binding it."""
        while scope is not None:
            if scope.kind != "class":
                if name in scope.globals:
                    return None
                if name in scope.bound and name not in scope.nonlocals:
                    return scope
            scope = scope.parent
        return None

    def visit(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, (*FUNCTIONS, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                scope.bound.add(node.name)
                self.visit_all([*node.decorator_list, *_annotations(node)], scope)
            self.visit_all([*node.args.defaults, *node.args.kw_defaults], scope)
            inner = _Scope("function", scope, bound=_parameters(node.args))
            inner.bound |= {param.name for param in getattr(node, "type_params", [])}
            body = node.body if isinstance(node.body, list) else [node.body]
            self.visit_all(body, inner)
        elif isinstance(node, ast.ClassDef):
            scope.bound.add(node.name)
            self.visit_all([*node.decorator_list, *node.bases, *node.keywords], scope)
            self.visit_all(node.body, _Scope("class", scope))
        elif isinstance(node, COMPREHENSIONS):
            self.visit(node.generators[0].iter, scope)
            inner = _Scope("comprehension", scope)
            for number, generator in enumerate(node.generators):
                self.visit(generator.target, inner)
                if number:
                    self.visit(generator.iter, inner)
                self.visit_all(generator.ifs, inner)
            parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            self.visit_all(parts, inner)
        elif isinstance(node, ast.NamedExpr):
            owner = scope
            while owner.kind == "comprehension" and owner.parent is not None:
                owner = owner.parent
            owner.bound.add(node.target.id)
            self.occurrences.append((node.target, node.target.id, owner))
            self.visit(node.value, scope)
        elif isinstance(node, ast.Global):
            scope.globals.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            scope.nonlocals.update(node.names)
        elif isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                scope.bound.add(node.id)
            self.occurrences.append((node, node.id, scope))
        else:
            if isinstance(node, ast.ExceptHandler) and node.name:
                scope.bound.add(node.name)
                self.occurrences.append((node, node.name, scope))
            scope.bound.update(_bound_by(node))
            self.visit_all(list(ast.iter_child_nodes(node)), scope)

    def visit_all(self, nodes: Sequence[ast.AST | None], scope: _Scope) -> None:
        for node in nodes:
            if node is not None:
                self.visit(node, scope)


def _parameters(arguments: ast.arguments) -> set[str]:
    return {
        argument.arg
        for argument in [
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *([arguments.vararg] if arguments.vararg else []),
            *([arguments.kwarg] if arguments.kwarg else []),
        ]
    }


def _annotations(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr | None]:
    arguments = function.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    every += [argument for argument in (arguments.vararg, arguments.kwarg) if argument]
    return [argument.annotation for argument in every] + [function.returns]


def _bound_by(node: ast.AST) -> set[str]:
    """Names a statement or pattern binds without an `ast.Name` (imports, match captures)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {
            alias.asname or alias.name.split(".")[0] for alias in node.names if alias.name != "*"
        }
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return {node.name}
    if isinstance(node, ast.MatchMapping) and node.rest:
        return {node.rest}
    return set()


def _in_order(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node`, depth first in source order (so numbering is stable)."""
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _in_order(child)
