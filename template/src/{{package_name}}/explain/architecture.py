# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`docs/architecture.md`: the container and cell views, the cell canvases, the roles, the
trigger thresholds and the gates, generated from the registry and `blueprint.yml`.

The page follows Spring Modulith's module canvas: one table per cell of what it handles,
publishes, needs and why it exists, and where its spec, contract and tests are (a file
not there yet is shown as missing, which is not an error).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..core.blueprint import Blueprint, read
from ..core.cells import Registry
from ..core.markers import derived_line
from ..core.messages import Message, kind_of
from ..core.names import PACKAGE, PROG
from ..genops import GATES
from ..ops.triggers import TRIGGERS, CellFacts, Thresholds, cell_facts
from ..ops.triggers.thresholds import KEYS
from .agents import contract_names, file_entries
from .contracts import layer_lines
from .ownership import ownership_lines

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PATH = "docs/architecture.md"


def _node(name: str) -> str:
    """A Mermaid node id: letters, digits and underscores only, never a leading `_`."""
    return "n_" + name.replace(".", "_").strip("_")


def read_blueprint(root: Path) -> Blueprint | None:
    """The typed blueprint at `root` (None without one): placements, flags, thresholds,
    roles. BlueprintError, every problem on its line, when it is invalid."""
    return read(root / "blueprint.yml")


def _placement(facts: CellFacts) -> str:
    if facts.placement == "in-process":
        return "in-process"
    return f"worker over {facts.placement}"


TRANSPORT_LABELS = {"redis": "Redis Streams", "nats": "NATS JetStream"}


def _container_diagram(registry: Registry, facts: Mapping[str, CellFacts], prog: str) -> list[str]:
    """Processes and stores: the gateway's process, one per worker, the servers between."""
    lines = ["```mermaid", "flowchart LR", "    client([HTTP client])"]
    lines += [f'    subgraph p_serve["{prog} serve: one process"]']
    lines += ['        gateway["gateway: authn, capabilities, limits"]']
    lines += ["        bus((in-process bus))"]
    lines += ['        sandbox[["sandbox: code.run, files, web.fetch"]]']
    workers = [cell for cell in registry if facts[cell.name].placement != "in-process"]
    lines += [
        f"        {_node(cell.name)}[{cell.name}]"
        for cell in registry
        if facts[cell.name].placement == "in-process"
    ]
    lines += ["    end"]
    for cell in workers:
        lines += [f'    subgraph p_{_node(cell.name)}["{prog} worker --cell {cell.name}"]']
        lines += [f"        {_node(cell.name)}[{cell.name}]"]
        if cell.capabilities:
            lines += [f'        sandbox_{cell.name}[["sandbox"]]']
        lines += ["    end"]
    lines += ['    client -->|"HTTP, API key or JWT"| gateway', "    gateway --> bus"]
    lines += ['    gateway --> audit[("audit log: HMAC chain")]']
    lines += ["    bus -->|periphery messages| sandbox"]
    for transport in sorted({facts[cell.name].placement for cell in workers}):
        label = TRANSPORT_LABELS.get(transport, transport)
        lines += [f'    bus -->|stand-in| t_{transport}[["{label}"]]']
    for cell in registry:
        node = _node(cell.name)
        placement = facts[cell.name].placement
        if placement == "in-process":
            lines.append(f"    bus --> {node}")
        else:
            lines.append(f"    t_{placement} -->|inbox| {node}")
            lines.append(f"    {node} -.->|outbox| t_{placement}")
            if cell.capabilities:
                lines.append(f"    {node} --> sandbox_{cell.name}")
        lines.append(f'    {node} --> db_{node}[("{cell.name}.sqlite3")]')
    lines.append("```")
    return lines


def _cell_diagram(registry: Registry, facts: Mapping[str, CellFacts]) -> list[str]:
    """The cells alone: where each runs, what it depends on, which events join them."""
    lines = ["```mermaid", "flowchart LR", "    gateway"]
    for cell in registry:
        lines.append(f'    {_node(cell.name)}["{cell.name}<br/>{_placement(facts[cell.name])}"]')
    for cell in registry:
        if cell.handles:
            routes = f"{len(cell.handles)} route{'s' if len(cell.handles) > 1 else ''}"
            lines.append(f"    gateway -->|{routes}| {_node(cell.name)}")
    for cell in registry:
        for dependency in cell.depends_on:
            lines.append(f"    {_node(cell.name)} -. depends on .-> {_node(dependency)}")
    for cell in registry:
        for event_type in cell.subscribes:
            publisher = registry.owner_of(event_type).name
            lines.append(f"    {_node(publisher)} -->|{event_type.__name__}| {_node(cell.name)}")
    lines.append("```")
    return lines


def _messages_diagram(registry: Registry) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for cell in registry:
        lines.append(f"    {_node(cell.name)}[{cell.name}]")
        for message_type in cell.handles:
            node = _node(registry.message_name(message_type))
            shape = f"[/{message_type.__name__}/]"
            if kind_of(message_type) == "query":
                shape = f"[({message_type.__name__})]"
            lines.append(f"    {node}{shape} -->|{kind_of(message_type)}| {_node(cell.name)}")
        for event_type in cell.publishes:
            node = _node(registry.message_name(event_type))
            lines.append(f"    {_node(cell.name)} -->|publishes| {node}>{event_type.__name__}]")
        for event_type in cell.subscribes:
            node = _node(registry.message_name(event_type))
            lines.append(f"    {node} -->|subscribed by| {_node(cell.name)}")
    lines.append("```")
    return lines


def _imports_diagram(edges: Iterable[tuple[str, str]]) -> list[str]:
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'    {_node(a)}["{a}"] --> {_node(b)}["{b}"]' for a, b in sorted(edges)]
    lines.append("```")
    return lines


def _names(types: Iterable[type[Message]]) -> str:
    return ", ".join(f"`{t.__name__}`" for t in types) or "-"


def _cell_table(registry: Registry, facts: Mapping[str, CellFacts]) -> list[str]:
    lines = [
        "| cell | placement | handles | publishes | subscribes | depends on | capabilities |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in registry:
        lines.append(
            f"| [`{cell.name}`](#cell-{cell.name}) | {_placement(facts[cell.name])} "
            f"| {_names(cell.handles)} | {_names(cell.publishes)} "
            f"| {_names(cell.subscribes)} | {', '.join(cell.depends_on) or '-'} "
            f"| {', '.join(cell.capabilities) or '-'} |"
        )
    return lines


def _canvas(
    registry: Registry, cell_name: str, facts: CellFacts, prog: str, root: Path
) -> list[str]:
    """One cell's canvas, after Spring Modulith's module canvas: its whole public face."""
    cell = registry[cell_name]
    handled = [
        f"{kind_of(t)} `{t.__name__}`: `POST {cell.route(t)}`, requires "
        f"`{cell.requires.get(t, 'none: the gateway will not start')}`"
        for t in cell.handles
    ]
    listeners = {
        event_type: [other.name for other in registry if event_type in other.subscribes]
        for event_type in cell.publishes
    }
    published = [
        f"`{t.__name__}` (to {', '.join(f'`{n}`' for n in names) or 'no cell yet'})"
        for t, names in listeners.items()
    ]
    subscribed = [f"`{t.__name__}` (from `{registry.owner_of(t).name}`)" for t in cell.subscribes]
    used_by = [other.name for other in registry if cell.name in other.depends_on]
    if facts.placement == "in-process":
        runs = "in-process: the gateway's process, on the in-memory bus"
    else:
        runs = f"worker over {facts.placement}: `{prog} worker --cell {cell.name}`"

    def joined(items: Iterable[str]) -> str:
        return "<br>".join(items) or "-"

    rows = [
        ("rationale", " ".join(cell.rationale.split())),
        ("handles", joined(handled)),
        ("publishes", joined(published)),
        ("subscribes to", joined(subscribed)),
        ("depends on", ", ".join(f"`{name}`" for name in cell.depends_on) or "-"),
        ("depended on by", ", ".join(f"`{name}`" for name in used_by) or "-"),
        ("sandbox capabilities", ", ".join(f"`{c}`" for c in cell.capabilities) or "-"),
        ("placement", runs),
        ("flags", ", ".join(f"`{flag}`" for flag in facts.flags) or "-"),
        ("storage", f"its own SQLite database, `<data_dir>/{cell.name}.sqlite3`"),
        ("code", f"`src/{PACKAGE}/cells/{cell.name}/` (yours; never overwritten)"),
    ]
    files = file_entries(cell, root)
    rows += [("spec", files["spec"]), ("contract", f"{files['contract']}: {contract_names(cell)}")]
    rows += [("tests", files["tests"])]
    lines = [f'<a id="cell-{cell.name}"></a>', "", f"### Cell `{cell.name}`", ""]
    lines += ["| | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return lines


def _thresholds(blueprint: Blueprint | None, facts: Mapping[str, CellFacts]) -> list[str]:
    here, default = Thresholds.from_blueprint(blueprint), Thresholds()
    lines = ["| threshold | set in `blueprint.yml` at | here | default |"]
    lines += ["| --- | --- | ---: | ---: |"]
    for name, key in KEYS.items():
        lines.append(
            f"| `{name}` | `{key}` | {getattr(here, name):g} | {getattr(default, name):g} |"
        )
    lines += ["", "| trigger | kind | fires when | here |", "| --- | --- | --- | --- |"]
    for trigger in TRIGGERS:
        if trigger.threshold is not None:
            unit = trigger.unit if trigger.unit in ("", "x") else f" {trigger.unit}"
            value = f"{trigger.threshold(here):g}{unit}"
            when = f"over `{trigger.key}`"
        else:
            flag = trigger.name
            flagged = [name for name, fact in facts.items() if flag in fact.flags]
            value = ", ".join(f"`{name}`" for name in flagged) or "no cell flagged"
            when = f"a cell has `{flag}` in its `flags`"
        lines.append(f"| `{trigger.name}` | {trigger.kind} | {when} | {value} |")
    return lines


def _gates(blueprint: Blueprint | None, prog: str) -> list[str]:
    lines = ["| gate | runs in | protects against | command |", "| --- | --- | --- | --- |"]
    for spec in GATES.values():
        where = "pre-commit and CI" if spec.fast else "CI"
        lines.append(
            f"| `{spec.name}` | {where} | {spec.protects} "
            f"| `uv run {prog} genops check {spec.name}` |"
        )
    # The settings as written (a key left out takes its default, shown in genops.md).
    settings = blueprint.genops.model_dump(mode="json", exclude_unset=True) if blueprint else {}
    if settings:
        lines += ["", "Their settings in `blueprint.yml` (`genops:`):", ""]
        lines += [f"- `{key}`: `{json.dumps(settings[key])}`" for key in sorted(settings)]
    return lines


def render_architecture(
    registry: Registry,
    edges: Iterable[tuple[str, str]],
    blueprint: Blueprint | None = None,
    root: Path = PACKAGE_DIR.parents[1],
) -> str:
    """The page for the cells of `registry`; `root` is the project whose cells' spec,
    contract and tests the canvases look for (this one by default)."""
    stated = cell_facts(blueprint)
    facts = {cell.name: stated.get(cell.name, CellFacts()) for cell in registry}
    lines = [derived_line(PATH, PROG), "", "# Architecture", ""]
    lines += [
        "One process by default; cells talk only over the bus; the gateway is the only way",
        "in. This page is generated by `explain` from the cell registry, the import graph",
        "and `blueprint.yml` (placements, flags, thresholds); `explain --check` fails when",
        "it drifts.",
        "",
    ]
    lines += ["## Container view", "", *_container_diagram(registry, facts, PROG), ""]
    lines += ["## Cell view", "", *_cell_diagram(registry, facts), ""]
    lines += ["## Cells", "", *_cell_table(registry, facts), ""]
    for cell in registry:
        lines += [*_canvas(registry, cell.name, facts[cell.name], PROG, root), ""]
    lines += ["## Roles", "", "| role | grants |", "| --- | --- |"]
    roles = blueprint.grants if blueprint else {}
    lines += [
        f"| `{role}` | {', '.join(f'`{g}`' for g in grants)} |" for role, grants in roles.items()
    ]
    lines += [""]
    lines += ["## Trigger thresholds", ""]
    lines += [
        f"When a cell should leave the process: `{PROG} triggers check` judges these over a",
        "long and a short window ([distribution.md](distribution.md): each trigger, its",
        "windows and the playbook that moves the cell).",
        "",
        *_thresholds(blueprint, facts),
        "",
    ]
    lines += ["## GenOps gates", ""]
    lines += [
        f"Every change passes them: `uv run {PROG} genops check` ([genops.md](genops.md):",
        "what each judges and how to acknowledge a deliberate change).",
        "",
        *_gates(blueprint, PROG),
        "",
    ]
    lines += ["## Ownership", "", *ownership_lines(), ""]
    lines += ["## Messages", "", *_messages_diagram(registry), ""]
    lines += ["## Layers", "", *layer_lines(), ""]
    lines += ["## Imports between parts (static)", "", *_imports_diagram(edges)]
    return "\n".join(lines) + "\n"
