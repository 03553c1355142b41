# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Lossless JSON codec for messages and results, built on pydantic.

Every message type is registered under a stable name (`<cell>.<ClassName>`), so an
encoded message says what it is and can be decoded by another process. `round_trip`
is what the dev/test middleware uses to prove that every message a cell sends would
survive a trip over a real transport: if it does not come back equal, the send fails
here, long before a cell is moved out of the process.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

if TYPE_CHECKING:
    from .messages import Message


class CodecError(ValueError):
    """A message or result that cannot be encoded, decoded or round-tripped."""


class BodyError(CodecError):
    """A request body that is JSON only by a lenient reading; `errors` is in the shape of
    pydantic's (type, loc, msg), so a caller can answer both alike."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errors = [{"type": "json_invalid", "loc": [], "msg": message}]


class Codec:
    """Maps message types to names and (de)serialises them with cached validators."""

    def __init__(self) -> None:
        self._types: dict[str, type[Any]] = {}
        self._names: dict[type[Any], str] = {}
        self._adapters: dict[type[Any], TypeAdapter[Any]] = {}

    def register(self, name: str, message_type: type[Message]) -> None:
        known = self._types.get(name)
        if known is not None and known is not message_type:
            raise CodecError(f"message name {name!r} is used by two types")
        self._types[name] = message_type
        self._names[message_type] = name

    def name_of(self, message_type: type[Any]) -> str:
        try:
            return self._names[message_type]
        except KeyError:
            raise CodecError(
                f"{message_type.__name__} is not declared by any cell "
                "(add it to the cell's handles, publishes or subscribes)"
            ) from None

    def adapter(self, value_type: type[Any]) -> TypeAdapter[Any]:
        adapter = self._adapters.get(value_type)
        if adapter is None:
            adapter = self._adapters[value_type] = TypeAdapter(value_type)
        return adapter

    def encode(self, message: Message) -> bytes:
        """Serialise a registered message into a self-describing JSON envelope,
        `{"type":"<cell>.<Message>","data":{...}}` (the data is pydantic's own JSON)."""
        name = self.name_of(type(message))
        try:
            data = self.adapter(type(message)).dump_json(message)
        except Exception as error:  # pydantic raises several types here
            raise CodecError(f"cannot encode {name}: {error}") from error
        return b"".join((ENVELOPE_START, name.encode(), ENVELOPE_DATA, data, b"}"))

    def decode(self, raw: bytes) -> Message:
        """Rebuild a message from an envelope, validating every field. Envelopes in
        `encode`'s exact layout skip a JSON parse; any other valid layout also works."""
        try:
            try:
                name, data = _split_envelope(raw)
                message: Message = self.adapter(self._types[name]).validate_json(data)
            except (KeyError, ValueError):  # not this codec's own layout after all
                name, data = _split_envelope(raw, fast=False)
                message = self.adapter(self._types[name]).validate_json(data)
        except KeyError as error:
            raise CodecError(f"unknown message type in envelope: {error}") from None
        except Exception as error:
            raise CodecError(f"cannot decode message: {error}") from error
        return message

    def parse(self, message_type: type[Message], body: bytes) -> Message:
        """Validate an external JSON body (an HTTP request) as a message.

        Strict, except that a number like `78.0` counts as the integer 78, as JSON Schema
        (and so the OpenAPI document) says it is; `true` is still not an integer. Raises
        pydantic's `ValidationError` or a `BodyError`, and nothing else, whatever the body:
        pydantic's parser refuses what no message can hold (invalid UTF-8, lone
        surrogates, nesting past its limit, integers past Python's int-str limit), and
        `refuse_ambiguous_json` what it would let through (see there).
        """
        adapter = self.adapter(message_type)
        try:
            message: Message = adapter.validate_json(body)
        except ValidationError:
            normalised = _integral_floats_as_ints(body)
            if normalised is None:
                raise
            message = adapter.validate_json(normalised)
        refuse_ambiguous_json(body)
        return message

    def to_jsonable(self, value: Any) -> Any:
        """A result as plain JSON data (for HTTP responses)."""
        if value is None:
            return None
        return self.adapter(type(value)).dump_python(value, mode="json")

    def round_trip(self, value: Any) -> Any:
        """Encode and decode `value`; fail unless the copy equals the original.

        A result must be a `Record` (a dataclass), None or a JSON scalar: its runtime type
        is all a remote transport has to decode it by, so `list[Note]` must travel as
        `NoteList(notes=...)`.
        """
        if value is None:
            return None
        serialisable = dataclasses.is_dataclass(value) or isinstance(value, str | int | float)
        if not serialisable:
            raise CodecError(
                f"a handler returned a {type(value).__name__}; return a Record dataclass "
                "(wrap collections, e.g. NoteList(notes=...)), None or a JSON scalar"
            )
        if type(value) in self._names:
            copy: Any = self.decode(self.encode(value))
        else:
            adapter = self.adapter(type(value))
            try:
                copy = adapter.validate_json(adapter.dump_json(value))
            except Exception as error:
                raise CodecError(
                    f"{type(value).__name__} does not survive JSON: {error}"
                ) from error
        if copy != value:
            raise CodecError(
                f"{type(value).__name__} changed in a JSON round trip: {value!r} -> {copy!r}"
            )
        return copy


ENVELOPE_START, ENVELOPE_DATA = b'{"type":"', b'","data":'


def _split_envelope(raw: bytes, fast: bool = True) -> tuple[str, bytes]:
    """The type name and the raw JSON of the data of an envelope."""
    if fast and raw.startswith(ENVELOPE_START) and raw.endswith(b"}"):
        end = raw.find(ENVELOPE_DATA)
        if end > 0 and b'"' not in raw[len(ENVELOPE_START) : end]:
            return raw[len(ENVELOPE_START) : end].decode(), raw[end + len(ENVELOPE_DATA) : -1]
    envelope = json.loads(raw)  # another layout (another language's encoder): parse it
    return str(envelope["type"]), json.dumps(envelope["data"]).encode()


def _integral_floats_as_ints(body: bytes) -> bytes | None:
    """The body with every integral float (78.0, 1e2) written as an integer, or None if
    it has none or is not JSON."""
    changed = False

    def number(text: str) -> float | int:
        nonlocal changed
        value = float(text)
        if value.is_integer():
            changed = True
            return int(value)
        return value

    try:
        data = json.loads(body, parse_float=number)
        return json.dumps(data).encode() if changed else None
    except (ValueError, RecursionError):  # not JSON, or nested past the stack: no number
        return None


def refuse_ambiguous_json(body: bytes) -> None:
    """Raise `BodyError` for JSON that pydantic accepts but that means different things to
    different readers: a repeated object key (which value wins?), and `NaN`, `Infinity`
    or a float beyond its range (not JSON at all; a handler would store them, then fail
    to answer with them). Builds nothing: the hooks return None."""
    try:
        json.loads(
            body,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_ignored,
        )
    except BodyError:
        raise
    except (ValueError, RecursionError):  # pydantic parsed it, so this is not expected
        raise BodyError("the body is not plain JSON") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    if len({key for key, _ in pairs}) != len(pairs):
        raise BodyError("an object repeats a key")


def _no_constant(name: str) -> None:
    raise BodyError(f"{name} is not a JSON number")


def _finite(text: str) -> None:
    if not math.isfinite(float(text)):
        raise BodyError("a number is out of range")


def _ignored(text: str) -> None:
    return None
