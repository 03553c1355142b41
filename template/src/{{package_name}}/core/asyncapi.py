# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The AsyncAPI 3.0 document of the cells' wire format, generated from the registry.

A cell placed on a worker is reached over Redis Streams or NATS (`core.transport`) with
plain JSON: the codec's envelope in, a reply body out. Publishing that format as one
AsyncAPI document means a worker written in another language can serve a cell from the
document alone (the polyglot trigger of the blueprint). The schemas come from the same
pydantic validators the codec decodes with, so the document cannot promise what the
service would refuse; `<cli> explain` writes it to `docs/asyncapi.json` and
`explain --check` fails when it is stale. The project's tests validate real encoded
messages and replies against it.

What it describes, from the side of a worker serving a cell:

- channel `inbox.<cell>` (address `{namespace}.inbox.<cell>`): the envelopes of the
  commands and queries the cell handles and of the events it subscribes to;
- channel `reply` (address `{namespace}.reply.{instance}`): reply bodies, one message
  per command or query, whose `result` is that message's result type;
- operations: the cell receives each of its inbox messages (a command or query with a
  reply on the caller's reply channel), sends its replies, and sends each event it
  publishes to the inbox of every subscriber.

The delivery id and the reply channel are transport metadata, not part of the body:
NATS headers, Redis Streams entry fields (`x-cellforge-transport` says which). Every body
travels sealed and signed (`core/envelope.py`): on the wire it is a
`transport.SignedEnvelope`, and each message's `payload` here is what its `sealed` field
opens to; `x-cellforge-envelope` says how to seal, sign and check one. Schemas
are kept to what JSON Schema draft-07 (AsyncAPI's default schema format) and 2020-12
read alike, since pydantic writes 2020-12. The transports' part of the document (headers,
metadata, the envelope) is data, declared in `asyncapi_wire.py`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

from pydantic import TypeAdapter

from .asyncapi_wire import (
    CALL_HEADERS,
    ENVELOPE,
    ENVELOPE_SCHEMA,
    EVENT_HEADERS,
    REPLY_CHANNEL,
    SIGNED_ENVELOPE,
    TRANSPORT_METADATA,
    headers,
)
from .cells import Cell, Registry
from .codec import Codec
from .messages import Message, kind_of, result_type
from .names import PACKAGE
from .transport import (
    ID_HEADER,
    REPLY_TO_HEADER,
    Status,
    inbox,
    reply_channel,
)

ASYNCAPI_VERSION = "3.0.0"
DESCRIPTION = (
    "The wire format of the cells: a worker that serves a cell takes the "
    "messages on its inbox and answers on the caller's reply channel. Every "
    "body travels sealed and signed in a `transport.SignedEnvelope` "
    "(`x-cellforge-envelope`); each payload here is what it opens to. "
    "Generated from the cell registry by `explain`; do not edit."
)


class AsyncApiError(ValueError):
    """The registry cannot be described (two schemas would share one name)."""


def inbox_channel(cell: str) -> str:
    """The id (not the address) of a cell's inbox channel in the document."""
    return f"inbox.{cell}"


def reply_message(name: str) -> str:
    """The id of the reply message (and of its schema) to the message named `name`."""
    return f"{name}.reply"


def _ref(*parts: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)}


def _envelope(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The codec's envelope for one message type: `{"type": <name>, "data": <message>}`."""
    return {
        "type": "object",
        "required": ["type", "data"],
        "additionalProperties": False,
        "properties": {"type": {"type": "string", "const": name}, "data": data},
    }


def _reply(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """`core.transport.reply_body`: the result when `ok`, null with a reason otherwise."""
    statuses = list(get_args(Status))
    refusals = [status for status in statuses if status != "ok"]
    return {
        "title": f"Reply to {name}",
        "type": "object",
        "required": ["id", "status", "result", "reason"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "description": "The delivery id of the message answered."},
            "status": {"type": "string", "enum": statuses},
            "result": {},
            "reason": {"type": "string", "description": "Why, when not ok; else empty."},
        },
        "oneOf": [
            {"properties": {"status": {"const": "ok"}, "result": result}},
            {"properties": {"status": {"enum": refusals}, "result": {"type": "null"}}},
        ],
    }


def _schemas(
    registry: Registry, codec: Codec
) -> tuple[
    dict[type[Message], dict[str, Any]], dict[type[Message], dict[str, Any]], dict[str, Any]
]:
    """Each message's data schema, each command's and query's result schema, and the
    definitions they refer to, all from the codec's validators (one pydantic pass, so a
    type used twice is defined once and two types never share a name)."""
    inputs: list[tuple[tuple[type[Message], str], Any, TypeAdapter[Any]]] = []
    for message_type in _message_types(registry):
        inputs.append(((message_type, "data"), "validation", codec.adapter(message_type)))
        if kind_of(message_type) != "event":
            result = codec.adapter(result_type(message_type))
            inputs.append(((message_type, "result"), "validation", result))
    refs, definitions = TypeAdapter.json_schemas(
        inputs, ref_template="#/components/schemas/{model}"
    )
    data = {key[0]: schema for (key, _), schema in refs.items() if key[1] == "data"}
    results = {key[0]: schema for (key, _), schema in refs.items() if key[1] == "result"}
    return data, results, definitions.get("$defs", {})


def _message_types(registry: Registry) -> list[type[Message]]:
    """Every message of the registry, once each, in declaration order."""
    return list(dict.fromkeys(t for cell in registry for t in cell.messages()))


def _inbox_messages(cell: Cell) -> list[type[Message]]:
    return [*cell.handles, *cell.subscribes]


def _message(registry: Registry, message_type: type[Message], data: dict[str, Any]) -> Any:
    name = registry.message_name(message_type)
    kind = kind_of(message_type)
    owner = registry.owner_of(message_type).name
    summary = (
        f"An event published by the {owner} cell."
        if kind == "event"
        else f"A {kind} handled by the {owner} cell; the caller waits for its reply."
    )
    return {
        "name": name,
        "title": message_type.__name__,
        "summary": summary,
        "contentType": "application/json",
        "tags": [{"name": kind}],
        "headers": _ref(
            "components", "schemas", EVENT_HEADERS if kind == "event" else CALL_HEADERS
        ),
        "correlationId": {"location": f"$message.header#/{ID_HEADER}"},
        "payload": _envelope(name, data),
        "x-cellforge-sealed-in": _ref("components", "schemas", SIGNED_ENVELOPE),
    }


def _operations(registry: Registry) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for cell in registry:
        channel = inbox_channel(cell.name)
        for message_type in _inbox_messages(cell):
            name = registry.message_name(message_type)
            operation: dict[str, Any] = {
                "action": "receive",
                "channel": _ref("channels", channel),
                "summary": f"The {cell.name} cell takes {name} from its inbox.",
                "messages": [_ref("channels", channel, "messages", name)],
            }
            if kind_of(message_type) != "event":
                operation["reply"] = {
                    "address": {
                        "location": f"$message.header#/{REPLY_TO_HEADER}",
                        "description": "The reply channel the delivery names.",
                    },
                    "channel": _ref("channels", REPLY_CHANNEL),
                    "messages": [_ref("channels", REPLY_CHANNEL, "messages", reply_message(name))],
                }
            operations[f"{cell.name}.receives.{name}"] = operation
        answered = [registry.message_name(t) for t in cell.handles]
        if answered:
            operations[f"{cell.name}.replies"] = {
                "action": "send",
                "channel": _ref("channels", REPLY_CHANNEL),
                "summary": f"The {cell.name} cell answers each command and query it took.",
                "messages": [
                    _ref("channels", REPLY_CHANNEL, "messages", reply_message(name))
                    for name in answered
                ],
            }
        for event_type in cell.publishes:
            name = registry.message_name(event_type)
            for subscriber in _subscribers(registry, event_type):
                target = inbox_channel(subscriber.name)
                operations[f"{cell.name}.sends.{name}.to.{subscriber.name}"] = {
                    "action": "send",
                    "channel": _ref("channels", target),
                    "summary": f"The {cell.name} cell publishes {name} to {subscriber.name}.",
                    "messages": [_ref("channels", target, "messages", name)],
                }
    return operations


def _subscribers(registry: Registry, event_type: type[Message]) -> Iterable[Cell]:
    return (cell for cell in registry if event_type in cell.subscribes)


def asyncapi_document(
    registry: Registry, codec: Codec | None = None, *, title: str, version: str
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every cell's inbox and of the reply channel."""
    data, results, definitions = _schemas(registry, codec or Codec())
    schemas, messages = _components(registry, data, results, definitions)
    namespace = {
        "description": "The services' shared prefix (setting `transport_namespace`).",
        "default": PACKAGE,
    }
    instance = {"description": "The calling process: each has its own reply channel."}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version, "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "channels": {**_inboxes(registry), REPLY_CHANNEL: _replies(registry, results)},
        "operations": _operations(registry),
        "components": {
            "schemas": schemas,
            "messages": messages,
            "parameters": {"namespace": namespace, "instance": instance},
        },
        "x-cellforge-transport": TRANSPORT_METADATA,
        "x-cellforge-envelope": ENVELOPE,
    }


def _components(
    registry: Registry,
    data: dict[type[Message], dict[str, Any]],
    results: dict[type[Message], dict[str, Any]],
    definitions: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document's schemas and messages: each message, the reply to each command and
    query, and the transport's headers and envelope (whose names the messages may not
    take)."""
    schemas: dict[str, Any] = dict(definitions)
    messages: dict[str, Any] = {}
    for message_type in _message_types(registry):
        name = registry.message_name(message_type)
        messages[name] = _message(registry, message_type, data[message_type])
        if message_type in results:
            reply = reply_message(name)
            schemas[reply] = _reply(name, results[message_type])
            messages[reply] = _reply_message(message_type, name)
    transport = {
        CALL_HEADERS: headers("A command or query on its way to a cell.", call=True),
        EVENT_HEADERS: headers("An event on its way to a subscriber.", call=False),
        SIGNED_ENVELOPE: ENVELOPE_SCHEMA,
    }
    clashes = sorted(set(schemas) & set(transport))
    if clashes:
        raise AsyncApiError(f"a message type uses a name the document reserves: {clashes}")
    return {**schemas, **transport}, messages


def _reply_message(message_type: type[Message], name: str) -> dict[str, Any]:
    reply = reply_message(name)
    return {
        "name": reply,
        "title": f"Reply to {message_type.__name__}",
        "summary": f"The reply to {name}: its result when ok, else a reason.",
        "contentType": "application/json",
        "correlationId": {"location": "$message.payload#/id"},
        "payload": _ref("components", "schemas", reply),
        "x-cellforge-sealed-in": _ref("components", "schemas", SIGNED_ENVELOPE),
    }


def _inboxes(registry: Registry) -> dict[str, Any]:
    """Channel `inbox.<cell>` of every cell: the messages it handles and subscribes to."""
    return {
        inbox_channel(cell.name): {
            "address": inbox("{namespace}", cell.name),
            "title": f"Inbox of {cell.name}",
            "description": cell.rationale.strip(),
            "parameters": {"namespace": _ref("components", "parameters", "namespace")},
            "messages": {
                registry.message_name(t): _ref("components", "messages", registry.message_name(t))
                for t in _inbox_messages(cell)
            },
        }
        for cell in registry
    }


def _replies(registry: Registry, results: dict[type[Message], Any]) -> dict[str, Any]:
    """Channel `reply`: the reply to every command and query."""
    names = [registry.message_name(t) for t in _message_types(registry) if t in results]
    return {
        "address": reply_channel("{namespace}", "{instance}"),
        "title": "Replies",
        "description": "Where a worker sends the reply to a command or query.",
        "parameters": {
            "namespace": _ref("components", "parameters", "namespace"),
            "instance": _ref("components", "parameters", "instance"),
        },
        "messages": {
            reply_message(name): _ref("components", "messages", reply_message(name))
            for name in names
        },
    }


def project_identity(root: Path) -> tuple[str, str]:
    """The project's name and version from `<root>/pyproject.toml` (the package name and
    0.0.0 when there is none), so the document reads the same in every environment."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        return str(project["name"]), str(project["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return PACKAGE, "0.0.0"


def render_asyncapi(registry: Registry, root: Path) -> str:
    """`docs/asyncapi.json`: sorted keys, two-space indent, a final newline."""
    title, version = project_identity(root)
    document = asyncapi_document(registry, title=title, version=version)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
