# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What the AsyncAPI document says about the transports themselves, as data: where the
delivery id and the reply channel travel on NATS and on Redis Streams, the headers of a
call and of an event, and the signed envelope every body travels sealed in.

`asyncapi.py` builds the document from the cell registry and puts these in it as they
are. Only the standard library: the docs generator runs in copier's interpreter.
"""

from __future__ import annotations

from typing import Any

from .transport import ID_HEADER, NATS_DEDUPE_HEADER, REPLY_TO_HEADER

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
        "cid": {"type": "string", "description": "The correlation id of the request, if any."},
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
        'also for its replies; reply_to the delivery\'s reply channel, "" for an event. '
        "An envelope with a `cid` has it appended to the array, as its last element."
    ),
    "checks": (
        "A receiver drops, unanswered, an envelope with an unknown `kid` or a wrong MAC, "
        "and a copy of one it has already handled. One older than the replay window "
        "(setting `delivery_replay_window_seconds`) or more than 30 s ahead of its clock "
        "does not run either; its retries end among the cell's dead letters."
    ),
}


def headers(description: str, *, call: bool) -> dict[str, Any]:
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
