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
read alike, since pydantic writes 2020-12.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, get_args

from .cells import Cell, Registry
from .codec import Codec
from .messages import Message, kind_of, result_type
from .names import PACKAGE
from .transport import (
    ID_HEADER,
    NATS_DEDUPE_HEADER,
    REPLY_TO_HEADER,
    Status,
    inbox,
    reply_channel,
)

ASYNCAPI_VERSION = "3.0.0"
# Transport metadata: where the delivery id and the reply channel travel on each server
# (core/transport/nats.py and redis.py; the project's tests check the NATS names).
TRANSPORT_METADATA = {
    "nats": {
        "inbox": (
            "a subject of the namespace's JetStream stream (work-queue retention), read by "
            "the durable pull consumer `inbox_<cell>` with explicit acks"
        ),
        "body": "the message data",
        "id": f"the header {ID_HEADER}, and {NATS_DEDUPE_HEADER} so JetStream drops a duplicate",
        "reply_to": f"the header {REPLY_TO_HEADER}",
        "reply": "a plain NATS message published to the reply address",
    },
    "redis": {
        "inbox": "a stream read by the consumer group `<cell>`; XACK and XDEL once answered",
        "body": "the entry's field `body`",
        "id": "the entry's field `id`",
        "reply_to": "the entry's field `reply_to` (empty for events)",
        "reply": "LPUSH onto the list at the reply address (the caller reads it with BLPOP)",
    },
}
CALL_HEADERS = "transport.CallHeaders"
EVENT_HEADERS = "transport.EventHeaders"
REPLY_CHANNEL = "reply"
ID_SCHEMA = {
    "type": "string",
    "description": (
        "The delivery id: the idempotency key, kept when a delivery comes again. "
        "Redis Streams: the entry field `id`."
    ),
}
REPLY_TO_SCHEMA = {
    "type": "string",
    "description": (
        "The caller's reply channel, `{namespace}.reply.{instance}`. "
        "Redis Streams: the entry field `reply_to`."
    ),
}
NATS_DEDUPE_SCHEMA = {
    "type": "string",
    "description": "NATS only: the delivery id again, so JetStream drops a duplicate.",
}
# The envelope of core/envelope.py, written out rather than imported: this module also
# runs where `cryptography` is missing (the docs generator, in copier's interpreter). The
# project's tests check real envelopes, and an implementation of these words, against it.
SIGNED_ENVELOPE = "transport.SignedEnvelope"
ENVELOPE_SCHEMA = {
    "title": "A signed, sealed body",
    "type": "object",
    "description": "What travels as the body of every delivery and reply.",
    "required": ["v", "id", "kid", "ts", "sealed", "mac"],
    "additionalProperties": False,
    "properties": {
        "v": {"type": "integer", "const": 1, "description": "The envelope's version."},
        "id": {"type": "string", "description": "The delivery id (the same as the metadata's)."},
        "kid": {"type": "string", "description": "The id of the delivery key that signed it."},
        "ts": {"type": "integer", "description": "When it was sealed: ms since the epoch."},
        "sealed": {"type": "string", "contentEncoding": "base64", "description": "The body."},
        "mac": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "HMAC-SHA256."},
    },
}
ENVELOPE = {
    "keys": (
        "The delivery keyring: the file `delivery.keyring` in the keys folder, or the "
        "environment variable `<PREFIX>DELIVERY_KEYRING`; JSON "
        '`{"active": <key id>, "keys": {<key id>: <32 bytes in hex>}}`. The active key '
        "signs; every key of the ring verifies (rotation: add, activate, drop the old "
        "key after the replay window)."
    ),
    "subkeys": (
        "From each key, by HKDF-SHA256 (no salt, 32 bytes): the MAC key with info "
        "`cellforge delivery mac`, the sealing key with info `cellforge delivery seal`."
    ),
    "sealed": (
        "base64 of a random 12-byte nonce followed by AES-256-GCM(sealing key, nonce, "
        "body, associated data `<id>\\0<cell>\\0<kid>`), where body is the message's "
        "`payload` in this document (a codec envelope, or a reply body)."
    ),
    "mac": (
        "hex of HMAC-SHA256(MAC key of `kid`, the JSON array "
        '`["cellforge-delivery", 1, <purpose>, <id>, <cell>, <reply_to>, <kid>, <ts>, '
        "<sealed>]` written compactly (no spaces, non-ASCII escaped as \\uXXXX)): purpose "
        "`delivery` on an inbox and `reply` on a reply channel; cell is the inbox's cell, "
        'also for its replies; reply_to the delivery\'s reply channel, "" for an event.'
    ),
    "checks": (
        "A receiver drops, unanswered, an envelope with an unknown `kid` or a wrong MAC, "
        "and a copy of one it has already handled. One older than the replay window "
        "(setting `delivery_replay_window_seconds`) or more than 30 s ahead of its clock "
        "does not run either; its retries end among the cell's dead letters."
    ),
}


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
    from pydantic import TypeAdapter

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
    codec = codec or Codec()
    data, results, definitions = _schemas(registry, codec)
    schemas: dict[str, Any] = dict(definitions)
    messages: dict[str, Any] = {}
    for message_type in _message_types(registry):
        name = registry.message_name(message_type)
        messages[name] = _message(registry, message_type, data[message_type])
        if message_type in results:
            reply = reply_message(name)
            schemas[reply] = _reply(name, results[message_type])
            messages[reply] = {
                "name": reply,
                "title": f"Reply to {message_type.__name__}",
                "summary": f"The reply to {name}: its result when ok, else a reason.",
                "contentType": "application/json",
                "correlationId": {"location": "$message.payload#/id"},
                "payload": _ref("components", "schemas", reply),
                "x-cellforge-sealed-in": _ref("components", "schemas", SIGNED_ENVELOPE),
            }
    headers = {
        CALL_HEADERS: _headers("A command or query on its way to a cell.", call=True),
        EVENT_HEADERS: _headers("An event on its way to a subscriber.", call=False),
        SIGNED_ENVELOPE: ENVELOPE_SCHEMA,
    }
    clashes = sorted(set(schemas) & set(headers))
    if clashes:
        raise AsyncApiError(f"a message type uses a name the document reserves: {clashes}")
    schemas.update(headers)
    namespace = {
        "description": "The services' shared prefix (setting `transport_namespace`).",
        "default": PACKAGE,
    }
    instance = {"description": "The calling process: each has its own reply channel."}
    channels: dict[str, Any] = {}
    for cell in registry:
        channels[inbox_channel(cell.name)] = {
            "address": inbox("{namespace}", cell.name),
            "title": f"Inbox of {cell.name}",
            "description": cell.rationale.strip(),
            "parameters": {"namespace": _ref("components", "parameters", "namespace")},
            "messages": {
                registry.message_name(t): _ref("components", "messages", registry.message_name(t))
                for t in _inbox_messages(cell)
            },
        }
    channels[REPLY_CHANNEL] = {
        "address": reply_channel("{namespace}", "{instance}"),
        "title": "Replies",
        "description": "Where a worker sends the reply to a command or query.",
        "parameters": {
            "namespace": _ref("components", "parameters", "namespace"),
            "instance": _ref("components", "parameters", "instance"),
        },
        "messages": {
            reply_message(registry.message_name(t)): _ref(
                "components", "messages", reply_message(registry.message_name(t))
            )
            for t in _message_types(registry)
            if t in results
        },
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": (
                "The wire format of the cells: a worker that serves a cell takes the "
                "messages on its inbox and answers on the caller's reply channel. Every "
                "body travels sealed and signed in a `transport.SignedEnvelope` "
                "(`x-cellforge-envelope`); each payload here is what it opens to. "
                "Generated from the cell registry by `explain`; do not edit."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": _operations(registry),
        "components": {
            "schemas": schemas,
            "messages": messages,
            "parameters": {"namespace": namespace, "instance": instance},
        },
        "x-cellforge-transport": TRANSPORT_METADATA,
        "x-cellforge-envelope": ENVELOPE,
    }


def _headers(description: str, *, call: bool) -> dict[str, Any]:
    properties = {ID_HEADER: ID_SCHEMA}
    if call:
        properties[REPLY_TO_HEADER] = REPLY_TO_SCHEMA
    required = list(properties)
    properties[NATS_DEDUPE_HEADER] = NATS_DEDUPE_SCHEMA
    return {
        "type": "object",
        "description": f"{description} NATS headers; Redis Streams entry fields.",
        "required": required,
        "properties": properties,
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
