"""`LLM`: the one way code calls a model: by purpose, within budgets, on the record.

`complete(purpose, messages, principal=..., max_output_tokens=...)` looks the purpose up
in the blueprint's pins (a raw model id is refused: `UnpinnedPurposeError`), estimates the
call's worst case and reserves it in the usage ledger, which refuses it when a budget is
short (`BudgetExceeded`: nothing is sent). Only then is the request sent; the usage the
provider reports settles the reservation. A provider error or timeout becomes an
`LLMError` with a one-line reason, and the reservation is released.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from pydantic import SecretStr

from ..core.blueprint import load
from ..core.settings import Settings
from .budget import Budgets, estimate
from .ledger import Ledger
from .pins import Pin, pin_for, pins_from_blueprint
from .providers import WIRES, BadReply, Message, Reply, Request, Wire


class LLMError(Exception):
    """A model call failed at the provider (the message says how); it counts nothing."""


@dataclass(frozen=True)
class Endpoint:
    """Where a provider is, and its key (None: send none, e.g. to a local server)."""

    url: str
    key: SecretStr | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    model: str


class LLM:
    def __init__(
        self,
        pins: Mapping[str, Pin],
        budgets: Budgets,
        ledger: Ledger,
        endpoints: Mapping[str, Endpoint],
        timeout_seconds: float = 60.0,
    ) -> None:
        self.pins, self.budgets, self.ledger = dict(pins), budgets, ledger
        self.endpoints, self.timeout_seconds = dict(endpoints), timeout_seconds
        self._http: httpx2.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings, ledger: Ledger | None = None) -> LLM:
        """Pins and budgets from the blueprint; the providers and the ledger from
        `settings` (or `ledger`, to share one that is already open)."""
        blueprint = load(settings.blueprint)
        endpoints = {
            "openai": Endpoint(settings.llm_openai_url, settings.llm_openai_key),
            "anthropic": Endpoint(settings.llm_anthropic_url, settings.llm_anthropic_key),
        }
        return cls(
            pins_from_blueprint(blueprint),
            Budgets.from_blueprint(blueprint),
            ledger or Ledger(settings.llm_ledger_path),
            endpoints,
            settings.llm_timeout_seconds,
        )

    async def complete(
        self, purpose: str, messages: Sequence[Message], *, principal: str, max_output_tokens: int
    ) -> Completion:
        """The model's answer; refused before sending when `purpose` is not pinned
        (`UnpinnedPurposeError`) or a budget is short (`BudgetExceeded`)."""
        if max_output_tokens < 1:  # it bounds the worst case the budgets judge
            raise ValueError(f"max_output_tokens must be at least 1, not {max_output_tokens}")
        pin = pin_for(self.pins, purpose)
        wire, endpoint = WIRES.get(pin.provider), self.endpoints.get(pin.provider)
        if wire is None or endpoint is None:
            raise LLMError(f"{purpose!r} is pinned to an unknown provider {pin.provider!r}")
        key = endpoint.key.get_secret_value() if endpoint.key else None
        request = wire.request(endpoint.url, key, pin.model, messages, max_output_tokens)
        worst = estimate(pin, [m.content for m in messages], max_output_tokens)
        call_id = self.ledger.reserve(principal, pin, worst, self.budgets)  # or refuses
        try:
            reply = await self._send(pin, wire, request)
        except BaseException:  # an error, a timeout, or the caller gave up (cancelled)
            self.ledger.release(call_id)
            raise
        cost = pin.cost_usd(reply.input_tokens, reply.output_tokens)
        self.ledger.settle(call_id, reply.input_tokens, reply.output_tokens, cost)
        return Completion(reply.text, reply.input_tokens, reply.output_tokens, cost, reply.model)

    async def _send(self, pin: Pin, wire: Wire, request: Request) -> Reply:
        """The provider's reply; every failure becomes an `LLMError` with a short reason."""
        where = f"{pin.provider} ({pin.purpose}: {pin.model})"
        data = await self._post(where, request)
        try:
            return wire.reply(data)
        except BadReply as error:
            raise LLMError(f"{where} answered 200, but {error}") from None

    async def _post(self, where: str, request: Request) -> Any:
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=self.timeout_seconds)
        try:
            response = await self._http.post(
                request.url, headers=request.headers, json=request.body
            )
        except httpx2.TimeoutException:
            raise LLMError(f"{where} did not answer within {self.timeout_seconds:g} s") from None
        except httpx2.HTTPError as error:
            raise LLMError(f"{where} could not be reached ({type(error).__name__})") from None
        if response.status_code != 200:
            raise LLMError(f"{where} answered {response.status_code}: {_snippet(response)}")
        try:
            return response.json()
        except ValueError:
            raise LLMError(f"{where} answered 200 with a body that is not JSON") from None

    async def aclose(self) -> None:
        """Close the HTTP connections (the ledger stays open: it may be shared)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> LLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _snippet(response: httpx2.Response, limit: int = 200) -> str:
    """The start of an error body, on one line: providers explain their errors there."""
    text = " ".join(response.text.split())
    return text[:limit] + ("..." if len(text) > limit else "")
