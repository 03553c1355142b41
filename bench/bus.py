"""Benchmark: the in-memory bus against the Redis and NATS transports, in one run: the
figures behind "monolith first".

A project is generated from this template (its working tree, uncommitted edits
included) and synced by uv into its own venv; a measurement script then runs in that
venv, in one process and one asyncio loop (the default loop: the project does not pull
in uvloop), and measures, round after round (every path in turn, so that machine noise
hits them alike, after one warm-up round):

- the in-memory bus without the codec: `await bus.send(Ping(7))` in a tight loop, one
  trivial handler returning `Pong(n)` (frozen slotted dataclasses, as cells declare
  them); the prod wiring;
- the same bus with the `codec_round_trip(codec)` middleware (dev and test wiring):
  the command and the result each make a JSON round trip;
- the memory transport (information): `MemoryTransport.call`, in-process queues with
  the transports' contract (a delivery id, a reply, acknowledgement after the handler);
- Redis Streams and NATS JetStream: `transport.call(cell, id, body)` to a cell that the
  same process serves (`serve(cell, handler)`, the handler echoing the body in a
  `reply_body`), against a real `redis-server` / `nats-server` on 127.0.0.1 started by
  the project's `core.transport.local`; one caller making sequential round trips, and
  16 concurrent callers (information: the throughput a busy gateway could get).

Throughput is calls over the wall time of the whole loop, loop overhead included. For
latency, the bus rows time one call in 32 on its own (`perf_counter_ns` around one
`await`, whose own cost is reported), so that timing does not dominate a microsecond
call; the transport rows time every call. Rates are medians over the rounds; p50 and
p99 are over every timed call of every round. Every call is checked: the handler
counts its calls, and every reply must carry its delivery id and the body sent.

    uv run python bench/bus.py --record  # 5 rounds, about 40 s, writes docs/benchmarks.md
    uv run python bench/bus.py           # the same, prints only
    uv run python bench/bus.py --quick   # 1 small round, prints only (CI)

Targets: the in-memory bus at least 1,000,000 msg/s without the codec and at least
100,000 msg/s with it; and at least 100x the fastest remote row (Redis or NATS, any
number of callers). A full run exits 1 when a target is missed; a quick run only has to
run end to end. Needs redis-server and nats-server (Debian: `apt-get install -y
redis-server nats-server`; `.ci/run` does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make `bench.*` importable

from bench.project import generate, project_env  # noqa: E402
from bench.report import write_section  # noqa: E402

PROD = (
    " The codec middleware is the dev and test wiring (`Settings.checks_messages`); "
    "prod dispatches without it, as the first row does."
)
ROUNDS, WARM_UP_ROUNDS, EVERY, CALLERS = 5, 1, 32, 16
BUS_TARGET, CODEC_TARGET, RATIO_TARGET = 1_000_000, 100_000, 100

BUS, CODEC = "in-memory bus, no codec", "in-memory bus + codec round trip"
MEMORY = "memory transport `call` (information)"
REDIS, NATS = "Redis Streams `call`, sequential", "NATS JetStream `call`, sequential"
REDIS_MANY = f"Redis Streams `call`, {CALLERS} concurrent callers"
NATS_MANY = f"NATS JetStream `call`, {CALLERS} concurrent callers"
REMOTE = [REDIS, NATS, REDIS_MANY, NATS_MANY]
SEQUENTIAL = [REDIS, NATS]

# (row, path, calls per round in a full run, in a quick run, callers)
PLAN = [
    (BUS, "bus", 256_000, 16_000, 1),
    (CODEC, "bus+codec", 25_600, 1_600, 1),
    (MEMORY, "memory", 12_000, 500, 1),
    (REDIS, "redis", 1_500, 100, 1),
    (NATS, "nats", 1_500, 100, 1),
    (REDIS_MANY, "redis", 3_200, 320, CALLERS),
    (NATS_MANY, "nats", 3_200, 320, CALLERS),
]

# Runs in the project's venv: `python measure.py <plan (JSON)> <rounds> <warm-up> <every>`.
MEASURE = """
import asyncio
import importlib.metadata
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from bench_service.core.bus import Bus, codec_round_trip
from bench_service.core.codec import Codec
from bench_service.core.messages import Command, Record
from bench_service.core.transport import reply_body
from bench_service.core.transport.local import BINARIES, local_server
from bench_service.core.transport.memory import MemoryTransport
from bench_service.core.transport.nats import NatsTransport
from bench_service.core.transport.redis import RedisTransport

CELL, TIMEOUT = "bench", 10.0
clock = time.perf_counter_ns


@dataclass(frozen=True, slots=True)
class Pong(Record):
    n: int


@dataclass(frozen=True, slots=True)
class Ping(Command[Pong]):
    n: int


def wired_bus(codec, checks_messages):
    # As `bootstrap.build` wires it: the codec middleware only when checking messages.
    bus = Bus(middleware=[codec_round_trip(codec)] if checks_messages else [])
    calls = [0]

    async def ping(command):
        calls[0] += 1
        return Pong(command.n)

    bus.handle(Ping, ping)
    return bus, calls


async def on_bus(bus, calls, count, every):
    # Batches of `every` sends: the first is timed on its own, the others are not.
    command, samples, result = Ping(7), [], None
    batches = count // every
    before, started = calls[0], clock()
    for _ in range(batches):
        begun = clock()
        result = await bus.send(command)
        samples.append(clock() - begun)
        for _ in range(every - 1):
            await bus.send(command)
    elapsed = clock() - started
    sent = batches * every
    if calls[0] - before != sent or result != Pong(7):
        raise SystemExit(f"the bus handled {calls[0] - before} of {sent} sends ({result})")
    return sent, elapsed, samples


async def echo(delivery):
    return reply_body(delivery.id, "ok", delivery.body.decode())


async def over(transport, count, callers, body):
    # `callers` concurrent callers, each making sequential round trips, every one timed.
    text, samples = body.decode(), []

    async def caller(share):
        for _ in range(share):
            delivery_id = uuid.uuid4().hex
            begun = clock()
            raw = await transport.call(CELL, delivery_id, body, TIMEOUT)
            samples.append(clock() - begun)
            reply = json.loads(raw)
            if reply["id"] != delivery_id or reply["result"] != text:
                raise SystemExit(f"{transport.kind}: a wrong reply to {delivery_id}: {reply}")

    share = count // callers
    started = clock()
    await asyncio.gather(*(caller(share) for _ in range(callers)))
    return share * callers, clock() - started, samples


def codec_pieces(codec, count):
    # Where the codec's time goes: each round trip alone, microseconds per call.
    pieces = {}
    for name, value in (("command", Ping(7)), ("result", Pong(7))):
        started = clock()
        for _ in range(count):
            codec.round_trip(value)
        pieces[name] = (clock() - started) / count / 1000
    return pieces


def timer_cost():
    # What the timing itself adds to a timed call: two perf_counter_ns calls (median).
    costs = []
    for _ in range(10_001):
        begun = clock()
        costs.append(clock() - begun)
    return sorted(costs)[5_000]


def server_version(kind):
    out = subprocess.run([BINARIES[kind], "--version"], capture_output=True, text=True).stdout
    return out.split()[2].removeprefix("v=") if kind == "redis" else out.split()[-1]


async def main(plan, rounds, warm_up, every):
    codec = Codec()
    codec.register("bench.Ping", Ping)  # as bootstrap registers a cell's messages
    body = codec.encode(Ping(7))  # a delivery's body: the codec's envelope
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    buses = {"bus": wired_bus(codec, False), "bus+codec": wired_bus(codec, True)}
    found, pieces = {}, {"command": [], "result": []}
    with local_server("redis") as redis_server, local_server("nats") as nats_server:
        transports = {
            "memory": MemoryTransport(),
            "redis": RedisTransport(redis_server.url, namespace, TIMEOUT),
            "nats": NatsTransport(nats_server.url, namespace, TIMEOUT),
        }
        try:
            for transport in transports.values():
                await transport.connect()
                await transport.serve(CELL, echo)
            runs = {}
            for name, path, count, callers in plan:
                if path in buses:
                    bus, calls = buses[path]
                    runs[name] = lambda c=count, b=bus, k=calls: on_bus(b, k, c, every)
                else:
                    t = transports[path]
                    runs[name] = lambda c=count, t=t, n=callers: over(t, c, n, body)
                found[name] = {"rates": [], "samples": [], "calls": 0, "callers": callers}
            for number in range(warm_up + rounds):
                for name, run in runs.items():
                    done, elapsed, samples = await run()
                    if number >= warm_up:
                        found[name]["rates"].append(done / (elapsed / 1e9))
                        found[name]["samples"].extend(samples)
                        found[name]["calls"] = done
                if number >= warm_up:
                    for piece, micros in codec_pieces(codec, 2_000).items():
                        pieces[piece].append(micros)
        finally:
            for transport in transports.values():
                await transport.close()
    print(json.dumps({
        "found": found,
        "pieces": pieces,
        "timer_ns": timer_cost(),
        "python": sys.version.split()[0],
        "pydantic": importlib.metadata.version("pydantic"),
        "redis-py": importlib.metadata.version("redis"),
        "nats-py": importlib.metadata.version("nats-py"),
        "redis-server": server_version("redis"),
        "nats-server": server_version("nats"),
    }))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    plan, rounds, warm_up, every = json.loads(arguments[0]), *map(int, arguments[1:])
    asyncio.run(main(plan, rounds, warm_up, every))
"""


def require_servers() -> None:
    missing = [name for name in ("redis-server", "nats-server") if not shutil.which(name)]
    if missing:
        raise SystemExit(
            f"not on PATH: {', '.join(missing)}: install them (Debian: `apt-get install -y "
            "redis-server nats-server`; `.ci/run` does) and run again"
        )


def measure(python: Path, work: Path, plan: list[list[object]], rounds: int) -> dict:
    script = work / "measure.py"
    script.write_text(MEASURE, encoding="utf-8")
    warm_up = WARM_UP_ROUNDS if rounds > 1 else 0
    done = subprocess.run(
        [str(python), str(script), json.dumps(plan), str(rounds), str(warm_up), str(EVERY)],
        stdout=subprocess.PIPE,
        text=True,
        env=project_env(),
        cwd=work,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measurement failed (exit {done.returncode})\n{done.stdout}")
    found: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def percentile(samples: list[int], which: int) -> float:
    """The `which`th percentile of nanosecond samples, in microseconds."""
    return statistics.quantiles(samples, n=100, method="inclusive")[which - 1] / 1000


def rate(found: dict, name: str) -> float:
    return statistics.median(found["found"][name]["rates"])


def table(found: dict) -> str:
    base = rate(found, BUS)
    rows = [
        "| path | calls per round | rounds | msg/s (median) | p50 (µs) | p99 (µs) "
        "| bus, no codec / this |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in found["found"].items():
        speed = rate(found, name)
        rows.append(
            f"| {name} | {row['calls']:,} | {len(row['rates'])} | {speed:,.0f} "
            f"| {percentile(row['samples'], 50):,.1f} | {percentile(row['samples'], 99):,.1f} "
            f"| {base / speed:,.1f}x |"
        )
    return "\n".join(rows)


def verdicts(found: dict) -> tuple[str, bool]:
    bus, codec = rate(found, BUS), rate(found, CODEC)
    fastest = max(REMOTE, key=lambda name: rate(found, name))
    sequential = max(SEQUENTIAL, key=lambda name: rate(found, name))
    ratio = bus / rate(found, fastest)
    met = {
        "bus": bus >= BUS_TARGET,
        "codec": codec >= CODEC_TARGET,
        "ratio": ratio >= RATIO_TARGET,
    }

    def mark(key: str) -> str:
        return "met" if met[key] else "NOT met"

    text = (
        f"In-memory bus without the codec = **{bus:,.0f} msg/s** (target at least "
        f"{BUS_TARGET:,}/s): {mark('bus')}. With the codec round trip = **{codec:,.0f} "
        f"msg/s** (target at least {CODEC_TARGET:,}/s): {mark('codec')}. In-memory bus / "
        f"fastest remote row ({fastest}, {rate(found, fastest):,.0f}/s) = **{ratio:,.0f}x** "
        f"(target at least {RATIO_TARGET}x): {mark('ratio')}; against the fastest "
        f"sequential remote ({sequential}), like for like: "
        f"{bus / rate(found, sequential):,.0f}x."
    )
    return text, all(met.values())


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="1 small round, print only")
    options.add_argument("--rounds", type=int, default=ROUNDS)
    options.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = options.parse_args()
    if args.quick and args.record:
        options.error("--quick runs are too short to record")
    if args.record and args.rounds < 3:
        options.error("a recorded run needs at least 3 rounds")
    rounds = 1 if args.quick else args.rounds
    plan = [
        [name, path, quick if args.quick else full, callers]
        for name, path, full, quick, callers in PLAN
    ]
    require_servers()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        python = generate(work) / ".venv" / "bin" / "python"
        found = measure(python, work, plan, rounds)
    main_table = table(found)
    text, ok = verdicts(found)
    command = statistics.median(found["pieces"]["command"])
    result = statistics.median(found["pieces"]["result"])
    codec_cost = 1e6 / rate(found, CODEC) - 1e6 / rate(found, BUS)
    split = (
        f"The codec's cost per send is {codec_cost:.1f} µs (the difference of the two bus "
        f"rows' mean times per call); `codec.round_trip` alone takes {command:.1f} µs for "
        f"the command (its envelope encoded, then decoded and validated by pydantic, then "
        f"compared) and {result:.1f} µs for the result (a plain `TypeAdapter` JSON round "
        "trip, as results are not registered by name)."
    )
    print(f"{main_table}\n\n{split}\n\n{text}")
    print(f"wall time {time.perf_counter() - started:.1f} s")
    if not args.record:
        return 0 if args.quick or ok else 1
    method = textwrap.fill(
        "Throughput is calls over the wall time of each row's whole loop (loop overhead "
        "included), median over the rounds. Latency: the two bus rows time one call in "
        f"{EVERY} on its own (`perf_counter_ns` around a single `await bus.send(...)`; "
        f"the timer's own cost, {found['timer_ns']} ns, is included and not subtracted), so "
        "that timing does not slow the loop it measures; the transport rows time every "
        "call. p50 and p99 are over every timed call of every round. Every call was "
        "checked: the handler counted every send, and every reply carried its delivery id "
        "and the body sent.",
        width=80,
    )
    remote = textwrap.fill(
        "The remote rows are `Transport.call` round trips with a delivery id to a cell "
        "served by the same process (its handler echoes the body in a `reply_body`), so "
        "they hold the transport's own cost only: a remote stand-in on the bus adds the "
        "codec on both ends (`core.remote`). Redis: `XADD` to the cell's stream, the "
        "consumer's `XREADGROUP`, then `LPUSH` of the reply, `XACK` and `XDEL` in one "
        "pipeline, and the caller's `BLPOP`. NATS: a JetStream publish that waits for "
        "the stream's ack, the consumer's pull `fetch`, a core-NATS reply and `ack_sync`. "
        f"With {CALLERS} concurrent callers, one process and one loop serve them all, "
        "through one transport object per kind (NATS: one connection; Redis: redis-py's "
        "connection pool, with one `BLPOP` reader for the process's replies).",
        width=80,
    )
    write_section(
        "bus",
        "## Bus: in-memory dispatch against the Redis and NATS transports\n\n"
        "Command: `uv run python bench/bus.py --record` (one process, one asyncio loop;\n"
        f"{rounds} rounds after {WARM_UP_ROUNDS} warm-up round, each round every path in "
        "turn; one\ntrivial command handler, `Ping(n) -> Pong(n)`; `redis-server` and "
        "`nats-server`\n(JetStream) on 127.0.0.1, started for the run).\n\n"
        f"Recorded {time.strftime('%Y-%m-%d')} on {sys.platform}, Python {found['python']} "
        f"(asyncio loop), pydantic {found['pydantic']},\nredis-py {found['redis-py']}, "
        f"nats-py {found['nats-py']}, redis-server {found['redis-server']}, "
        f"nats-server {found['nats-server']},\n{os.cpu_count()} cores (shared by the "
        "servers and the benchmark).\n\n"
        f"{main_table}\n\n"
        f"{method}\n\n"
        f"{remote}\n\n"
        f"{textwrap.fill(split + PROD, width=80)}\n\n"
        f"{text}\n",
    )
    print("wrote docs/benchmarks.md")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
