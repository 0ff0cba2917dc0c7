"""The ledger's writes alone: one transaction per write against the shared batches, same run.

No HTTP: ``--concurrency`` tasks each repeat a keyed create's three ledger writes (the
claim, GatePay's answer ``--latency`` seconds later, the outcome) on one ``Ledger``, in
two variants alternated round by round: ``per_write`` (each write handed to a worker
thread and committed alone, as before the ledger's group commit) and ``batched`` (through
``_idempotent.async_batches_of``, as ``create(..., idempotency_key=...)`` writes now).
Reported per variant: the process's CPU µs per create (worker threads included) and
creates/s, per round. This isolates what the ledger costs from the HTTP client, whose CPU
dominates ``bench_ledger.py`` and makes its ratios noisy on a busy machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
from _common import REPO_ROOT, base_parser, emit, machine_info

from gatepay_async import Ledger
from gatepay_async._decision.outcome import CreateOutcome, Outcome
from gatepay_async._primitives.synchronization import async_run_blocking
from gatepay_async._wire.validation import build_create_request
from gatepay_async.resources._idempotent import async_batches_of

REQUEST = build_create_request(
    title="Holiday", template_id="T1", currency="USDT", amount=Decimal("0.99")
)
ANSWER = b'{"code":"SUCCESS","data":{"card_num":"GC1","card_key":"KKKKKKKKKKKKKKKK"}}'
VARIANTS = ("per_write", "batched")


async def _round(
    ledger: Ledger, variant: str, prefix: str, per_task: int, concurrency: int, latency: float
) -> tuple[float, float]:
    """(CPU µs per create, creates/s) of one round."""
    batches = async_batches_of(ledger)

    def write(call: Callable[[], Any]) -> Awaitable[Any]:
        return batches.run(call) if variant == "batched" else async_run_blocking(call)

    async def task(number: int) -> None:
        for index in range(per_task):
            key = f"{prefix}-{number}-{index}"
            begun = await write(partial(ledger.begin, key, REQUEST, account="bench"))
            owner = str(begun.owner)
            await anyio.sleep(latency)
            await write(partial(ledger.record_answer, key, owner, 200, ANSWER))
            outcome = CreateOutcome(Outcome.NOT_SENT)
            await write(partial(ledger.record_outcome, key, owner, outcome))

    cpu, wall = time.process_time(), time.perf_counter()
    async with anyio.create_task_group() as group:
        for number in range(concurrency):
            group.start_soon(task, number)
    creates = per_task * concurrency
    return (time.process_time() - cpu) / creates * 1e6, creates / (time.perf_counter() - wall)


def run(url: str, *, rounds: int, per_task: int, concurrency: int, latency: float) -> Any:
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    with Ledger(url) as ledger:
        for number in range(rounds):
            for name in VARIANTS if number % 2 == 0 else VARIANTS[::-1]:
                runs[name].append(
                    asyncio.run(
                        _round(ledger, name, f"r{number}{name}", per_task, concurrency, latency)
                    )
                )
    results: dict[str, Any] = {}
    for name, rows in runs.items():
        cpu = sorted(row[0] for row in rows)
        results[name] = {
            "cpu_us_per_create": [round(row[0]) for row in rows],
            "creates_per_s": [round(row[1], 1) for row in rows],
            "median_cpu_us_per_create": round(cpu[len(cpu) // 2]),
        }
    results["batched_cpu_vs_per_write"] = round(
        results["batched"]["median_cpu_us_per_create"]
        / results["per_write"]["median_cpu_us_per_create"],
        3,
    )
    return results


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (%(default)s)")
    parser.add_argument("--per-task", type=int, default=40, help="creates per task")
    parser.add_argument("--concurrency", type=int, default=16, help="(%(default)s)")
    parser.add_argument("--latency", type=float, default=0.05, help="claim to answer, s")
    parser.add_argument("--postgres-url", help="a PostgreSQL database (default: start a server)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.per_task, args.concurrency, args.latency = 2, 2, 4, 0.0
    started = time.perf_counter()
    server = None
    postgres_url = args.postgres_url
    if postgres_url is None:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.postgres_server import PostgresServer

        server = PostgresServer().__enter__()
        postgres_url = server.new_database()
    options = {
        "rounds": args.rounds,
        "per_task": args.per_task,
        "concurrency": args.concurrency,
        "latency": args.latency,
    }
    try:
        with tempfile.TemporaryDirectory() as folder:
            results: dict[str, Any] = {
                "params": options,
                "sqlite": run(f"sqlite:///{folder}/ledger.db", **options),
                "postgresql": run(postgres_url, **options),
            }
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    results["machine"] = machine_info()
    results["seconds"] = round(time.perf_counter() - started, 1)
    emit(results, args.json)


if __name__ == "__main__":
    main()
