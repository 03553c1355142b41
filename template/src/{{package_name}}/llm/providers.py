# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The two wire formats a pinned model is reached by: OpenAI's chat completions (which
most other providers and local servers also speak) and Anthropic's messages.

Only the mapping lives here, request out and reply in, so that budgets and the ledger
work the same for both. A reply must report its usage: a call whose usage is unknown
cannot be budgeted, so a reply without it is refused as malformed. So is any other shape
than the documented one, and any count that is not a whole number >= 0: the ledger adds
these up, and a negative (or `true`, or 12.9) count would free budget that was spent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ANTHROPIC_VERSION = "2023-06-01"
# Anthropic reports prompt-cache writes and reads apart from input_tokens.
CACHE_FIELDS = ("cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    text: str
    input_tokens: int
    output_tokens: int
    model: str


class BadReply(ValueError):  # noqa: N818 - caught by the client, never shown
    """The provider answered, but not in its documented shape."""


@dataclass(frozen=True)
class Sampling:
    """Request parameters that make an answer repeatable where the provider allows it:
    temperature 0, and a seed (OpenAI-compatible servers only; Anthropic has none)."""

    temperature: float | None = None
    seed: int | None = None


PROVIDER_DEFAULTS = Sampling()  # nothing asked: each provider's own defaults


def openai_request(
    base: str,
    key: str | None,
    model: str,
    messages: Sequence[Message],
    max_output: int,
    sampling: Sampling = PROVIDER_DEFAULTS,
) -> Request:
    """`POST {base}/chat/completions` with a bearer key; `base` ends with the version."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_completion_tokens": max_output,
    }
    if sampling.temperature is not None:
        body["temperature"] = sampling.temperature
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    return Request(f"{base.rstrip('/')}/chat/completions", headers, body)


def openai_reply(data: Any) -> Reply:
    body = _mapping(data, "the body")
    usage = _mapping(body.get("usage"), "usage")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadReply(f"choices is {_shown(choices)}, not a list of at least one choice")
    message = _mapping(_mapping(choices[0], "choices[0]").get("message"), "choices[0].message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise BadReply(f"choices[0].message.content is {_shown(content)}, not a string")
    input_tokens = _count(usage, "prompt_tokens")
    output_tokens = _count(usage, "completion_tokens")
    return Reply(content or "", input_tokens, output_tokens, _model(body))


def anthropic_request(
    base: str,
    key: str | None,
    model: str,
    messages: Sequence[Message],
    max_output: int,
    sampling: Sampling = PROVIDER_DEFAULTS,
) -> Request:
    """`POST {base}/v1/messages`; system messages go in the top-level `system` field."""
    headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": key} if key else {})}
    turns = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    body: dict[str, Any] = {"model": model, "max_tokens": max_output, "messages": turns}
    if sampling.temperature is not None:
        body["temperature"] = sampling.temperature
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    if system:
        body["system"] = system
    return Request(f"{base.rstrip('/')}/v1/messages", headers, body)


def anthropic_reply(data: Any) -> Reply:
    body = _mapping(data, "the body")
    usage = _mapping(body.get("usage"), "usage")
    blocks = body.get("content")
    if not isinstance(blocks, list):
        raise BadReply(f"content is {_shown(blocks)}, not a list of blocks")
    texts: list[str] = []
    for number, block in enumerate(blocks):
        block = _mapping(block, f"content[{number}]")
        if block.get("type") == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise BadReply(f"content[{number}].text is {_shown(text)}, not a string")
            texts.append(text)
    cached = sum(_count(usage, name, optional=True) for name in CACHE_FIELDS)
    input_tokens = _count(usage, "input_tokens") + cached
    return Reply("".join(texts), input_tokens, _count(usage, "output_tokens"), _model(body))


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadReply(f"{what} is {_shown(value)}, not an object")
    return value


def _count(usage: Mapping[str, Any], name: str, optional: bool = False) -> int:
    """A token count: a whole number >= 0 (JSON `true` is a bool, not a count)."""
    value = usage.get(name)
    if value is None and optional:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadReply(f"usage.{name} is {_shown(value)}, not a token count (a whole number >= 0)")
    return value


def _model(body: Mapping[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str):
        raise BadReply(f"model is {_shown(model)}, not a string")
    return model


def _shown(value: Any, limit: int = 40) -> str:
    """`value` in a reason: short, on one line (a reply is the provider's text, not ours)."""
    if value is None:
        return "missing (or null)"
    text = " ".join(repr(value).split())
    return text[:limit] + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class Wire:
    request: Callable[[str, str | None, str, Sequence[Message], int, Sampling], Request]
    reply: Callable[[Any], Reply]  # from the reply's JSON body, or BadReply says what is off
    shape: str  # what a reply should be, for the reason of a BadReply


WIRES = {
    "openai": Wire(openai_request, openai_reply, "a chat completion with usage"),
    "anthropic": Wire(anthropic_request, anthropic_reply, "a message with usage"),
}
