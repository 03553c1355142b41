# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`LLM`: the one way code calls a model: by purpose, within budgets, on the record.

`complete(purpose, messages, principal=..., max_output_tokens=...)` looks the purpose up
in the blueprint's pins (a raw model id is refused: `UnpinnedPurposeError`), estimates the
call's worst case and reserves it in the usage ledger, which refuses it when a budget is
short (`BudgetExceeded`: nothing is sent). Only then is the request sent; the usage the
provider reports settles the reservation. A failure becomes an `LLMError` with a
one-line reason. A request that never reached the provider (no connection) or that it
refused (4xx: the providers bill no refusals) is `NotBilledError`: its reservation is
released. Any other failure once the request is out (a timeout, a 5xx, a malformed
reply, or the caller giving up) may still be billed, so its worst case keeps counting.

The ledger is SQLite, which may wait seconds for another process's write lock: its
writes run in a worker thread, to their end even when the caller is cancelled meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
from pydantic import SecretStr

from ..core.settings import Settings
from .budget import Budgets, estimate
from .ledger import Ledger
from .pins import Pin, pin_for, pins_from_blueprint
from .providers import PROVIDER_DEFAULTS, WIRES, BadReply, Message, Reply, Request, Sampling, Wire

T = TypeVar("T")


class LLMError(Exception):
    """A model call failed (the message says how). Raised once its request was out (and
    not a `NotBilledError`), the provider may bill the call: its worst case keeps counting
    in the ledger (outcome `unknown`)."""


class NotBilledError(LLMError):
    """The request never reached the provider, or the provider refused it (4xx): the call
    counts nothing (outcome `failed`)."""


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
        blueprint = settings.blueprint_model
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
        self,
        purpose: str,
        messages: Sequence[Message],
        *,
        principal: str,
        max_output_tokens: int,
        sampling: Sampling = PROVIDER_DEFAULTS,
    ) -> Completion:
        """The model's answer; refused before sending when `purpose` is not pinned
        (`UnpinnedPurposeError`) or a budget is short (`BudgetExceeded`). `sampling` asks
        for a repeatable answer (temperature 0, a seed) where the provider allows it."""
        if max_output_tokens < 1:  # it bounds the worst case the budgets judge
            raise ValueError(f"max_output_tokens must be at least 1, not {max_output_tokens}")
        pin = pin_for(self.pins, purpose)
        wire, endpoint = WIRES.get(pin.provider), self.endpoints.get(pin.provider)
        if wire is None or endpoint is None:
            raise LLMError(f"{purpose!r} is pinned to an unknown provider {pin.provider!r}")
        key = endpoint.key.get_secret_value() if endpoint.key else None
        request = wire.request(endpoint.url, key, pin.model, messages, max_output_tokens, sampling)
        worst = estimate(pin, [m.content for m in messages], max_output_tokens)
        reserving = _in_thread(self.ledger.reserve, principal, pin, worst, self.budgets)
        try:
            call_id = await _finish(reserving)  # or refuses
        except asyncio.CancelledError:  # nothing was sent: free the reservation once made
            reserving.add_done_callback(self._release_unsent)
            raise
        try:
            reply = await self._send(pin, wire, request)
        except NotBilledError:
            await _finish(_in_thread(self.ledger.release, call_id))
            raise
        except BaseException:  # sent: a timeout, a 5xx, a bad reply, or the caller gave up
            await _finish(_in_thread(self.ledger.keep, call_id))
            raise
        cost = pin.cost_usd(reply.input_tokens, reply.output_tokens)
        used = (reply.input_tokens, reply.output_tokens)
        await _finish(_in_thread(self.ledger.settle, call_id, *used, cost))
        return Completion(reply.text, reply.input_tokens, reply.output_tokens, cost, reply.model)

    async def _send(self, pin: Pin, wire: Wire, request: Request) -> Reply:
        """The provider's reply; every failure becomes an `LLMError` with a short reason."""
        where = f"{pin.provider} ({pin.purpose}: {pin.model})"
        data = await self._post(where, request)
        try:
            return wire.reply(data)
        except BadReply as error:
            raise LLMError(f"{where} answered 200, but not as {wire.shape}: {error}") from None

    async def _post(self, where: str, request: Request) -> Any:
        if self._http is None:
            self._http = httpx2.AsyncClient(timeout=self.timeout_seconds)
        try:
            response = await self._http.post(
                request.url, headers=request.headers, json=request.body
            )
        except UNSENT as error:  # before a byte of the request went out
            reason = f"{where} could not be reached ({type(error).__name__})"
            raise NotBilledError(reason) from None
        except httpx2.TimeoutException:
            raise LLMError(f"{where} did not answer within {self.timeout_seconds:g} s") from None
        except httpx2.HTTPError as error:
            raise LLMError(f"{where} failed mid-call ({type(error).__name__})") from None
        if response.status_code != 200:
            error_type = NotBilledError if 400 <= response.status_code < 500 else LLMError
            raise error_type(f"{where} answered {response.status_code}: {_snippet(response)}")
        try:
            return response.json()
        except ValueError:
            raise LLMError(f"{where} answered 200 with a body that is not JSON") from None

    def _release_unsent(self, reserving: asyncio.Future[int]) -> None:
        if not reserving.cancelled() and reserving.exception() is None:
            asyncio.get_running_loop().run_in_executor(
                None, self.ledger.release, reserving.result()
            )

    async def aclose(self) -> None:
        """Close the HTTP connections (the ledger stays open: it may be shared)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> LLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# The transport errors raised before the request is written: no connection was had.
UNSENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.UnsupportedProtocol,
)


def _in_thread(work: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """`work(*args)`, started now in a worker thread (a ledger write may wait for SQLite)."""
    return asyncio.ensure_future(asyncio.to_thread(work, *args))


async def _finish(work: asyncio.Future[T]) -> T:
    """`work`'s result; if the caller is cancelled meanwhile, `work` still runs to its end
    (the ledger must not be left in doubt) and the cancellation is raised after it."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])  # cancelled again: it still ends, unwaited
        raise


def _snippet(response: httpx2.Response, limit: int = 200) -> str:
    """The start of an error body, on one line: providers explain their errors there."""
    text = " ".join(response.text.split())
    return text[:limit] + ("..." if len(text) > limit else "")
