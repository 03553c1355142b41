"""The two wire formats a pinned model is reached by: OpenAI's chat completions (which
most other providers and local servers also speak) and Anthropic's messages.

Only the mapping lives here, request out and reply in, so that budgets and the ledger
work the same for both. A reply must report its usage: a call whose usage is unknown
cannot be budgeted, so a reply without it is refused as malformed.
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


def openai_request(
    base: str, key: str | None, model: str, messages: Sequence[Message], max_output: int
) -> Request:
    """`POST {base}/chat/completions` with a bearer key; `base` ends with the version."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    body = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_completion_tokens": max_output,
    }
    return Request(f"{base.rstrip('/')}/chat/completions", headers, body)


def openai_reply(data: Mapping[str, Any]) -> Reply:
    try:
        usage, message = data["usage"], data["choices"][0]["message"]
        input_tokens, output_tokens = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
        return Reply(str(message["content"] or ""), input_tokens, output_tokens, str(data["model"]))
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise BadReply(f"not as a chat completion with usage ({error!r})") from None


def anthropic_request(
    base: str, key: str | None, model: str, messages: Sequence[Message], max_output: int
) -> Request:
    """`POST {base}/v1/messages`; system messages go in the top-level `system` field."""
    headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": key} if key else {})}
    turns = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    body: dict[str, Any] = {"model": model, "max_tokens": max_output, "messages": turns}
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    if system:
        body["system"] = system
    return Request(f"{base.rstrip('/')}/v1/messages", headers, body)


def anthropic_reply(data: Mapping[str, Any]) -> Reply:
    try:
        usage = data["usage"]
        text = "".join(block["text"] for block in data["content"] if block["type"] == "text")
        cached = sum(int(usage.get(name) or 0) for name in CACHE_FIELDS)
        input_tokens = int(usage["input_tokens"]) + cached
        return Reply(text, input_tokens, int(usage["output_tokens"]), str(data["model"]))
    except (KeyError, TypeError, ValueError) as error:
        raise BadReply(f"not as a message with usage ({error!r})") from None


@dataclass(frozen=True)
class Wire:
    request: Callable[[str, str | None, str, Sequence[Message], int], Request]
    reply: Callable[[Mapping[str, Any]], Reply]


WIRES = {
    "openai": Wire(openai_request, openai_reply),
    "anthropic": Wire(anthropic_request, anthropic_reply),
}
