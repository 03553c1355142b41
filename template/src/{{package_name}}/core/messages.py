# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Typed messages: the only way cells talk to each other.

A message is a frozen dataclass that subclasses `Command`, `Query` or `Event`; what a
handler returns is a frozen dataclass that subclasses `Record`. Keeping them plain
dataclasses keeps in-process dispatch cheap, and the codec (`core.codec`) turns them into
JSON losslessly, so the same objects can later cross a Redis or NATS transport.

- A `Command[R]` asks one cell to change something and returns an `R`.
- A `Query[R]` asks one cell for data and returns an `R`; it changes nothing.
- An `Event` says that something happened; any number of cells may subscribe.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

R = TypeVar("R")


class Record:
    """Base of everything that crosses the bus: messages and handler results."""

    __slots__ = ()

    # Read by pydantic when the codec builds a validator. Strict: no bool->int or
    # str->int coercion; forbid: unknown fields are an error, not silently dropped;
    # base64 bytes: arbitrary bytes survive a JSON round trip.
    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "strict": True,
        "extra": "forbid",
        "ser_json_bytes": "base64",
        "val_json_bytes": "base64",
    }


class Message(Record):
    """A command, query or event."""

    __slots__ = ()


class Command(Message, Generic[R]):
    """Changes state in exactly one cell; its handler returns an `R`."""

    __slots__ = ()


class Query(Message, Generic[R]):
    """Reads state from exactly one cell; its handler returns an `R`."""

    __slots__ = ()


class Event(Message):
    """A fact that happened; delivered to every subscriber."""

    __slots__ = ()


def kind_of(message_type: type[Message]) -> str:
    """`command`, `query` or `event`: the word used in tables, routes and diagrams."""
    for base, word in ((Command, "command"), (Query, "query"), (Event, "event")):
        if issubclass(message_type, base):
            return word
    raise TypeError(f"{message_type.__name__} is not a Command, Query or Event")


def result_type(message_type: type[Message]) -> Any:
    """The `R` of a `Command[R]` or `Query[R]` class (Any if it was left open)."""
    for klass in message_type.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if get_origin(base) in (Command, Query):
                return get_args(base)[0]
    return Any
