"""The ledger's cost per create: no ledger against an SQLite and a PostgreSQL ledger, same run.

One responder (``_responder.py --engine asyncio``, ``--latency`` seconds before every
answer) in its own process on 127.0.0.1. The same ``AsyncGatePay`` create runs
``--concurrency`` at a time (tasks in an anyio task group pulling numbers from one
shared counter), in three variants: ``none`` (no ``idempotency_key``), ``sqlite`` (a
ledger file in a fresh temporary folder) and ``postgresql`` (``--postgres-url``, else a
server started from the installed binaries as the tests do, on 127.0.0.1). Each keyed
create uses a new key: three ledger transactions (claim, raw answer, outcome), each
committed durably.

The variants run in alternating rounds (none, sqlite, postgresql, then the reverse), each
on a fresh client warmed up with one create per slot; a round is ``--creates`` /
``--rounds`` creates. Reported per variant: creates/s over all its rounds, the client
process's CPU µs per create (worker threads included: that is where the ledger's
database calls run), and both as ratios to ``none``.

Targets (ratios within one run): on each database a keyed create costs at most 1.3x
the client CPU of a plain one and reaches at least 0.95x its creates/s.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from _common import (
    CLIENT_ID,
    REPO_ROOT,
    SECRET_KEY,
    TEMPLATE_ID,
    CpuMeter,
    base_parser,
    emit,
    machine_info,
    responder_process,
)

from gatepay_async import AsyncGatePay, Ledger

VARIANTS = ("none", "sqlite", "postgresql")
TARGETS = {"cpu_ratio_at_most": 1.3, "throughput_ratio_at_least": 0.95}
CREATE_ARGS: dict[str, Any] = {
    "title": "Holiday",
    "template_id": TEMPLATE_ID,
    "currency": "USDT",
    "amount": Decimal("0.99"),
}


async def _round(
    url: str, ledger: Ledger | None, prefix: str, creates: int, concurrency: int
) -> tuple[float, float]:
    """(wall seconds, client CPU seconds) of ``creates`` creates, after a warm-up."""
    async with AsyncGatePay(
        client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url, ledger=ledger
    ) as gp:

        async def one(key: str) -> None:
            await gp.gift_cards.create(
                **CREATE_ARGS, idempotency_key=key if ledger is not None else None
            )

        async with anyio.create_task_group() as warm:
            for slot in range(concurrency):
                warm.start_soon(one, f"{prefix}-warm-{slot}")
        counter = iter(range(creates))

        async def worker() -> None:
            for number in counter:
                await one(f"{prefix}-{number}")

        with CpuMeter() as meter:
            async with anyio.create_task_group() as tasks:
                for _ in range(concurrency):
                    tasks.start_soon(worker)
    return meter.wall, meter.client_cpu


def _filesystem(path: Path) -> str:
    """The file system type a path is on (tmpfs makes SQLite's fsync free)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 3 or not str(path).startswith(fields[1]):
                    continue
                if len(fields[1]) > len(best):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def run(
    url: str,
    postgres_url: str,
    sqlite_dir: Path,
    *,
    creates: int,
    rounds: int,
    concurrency: int,
) -> dict[str, Any]:
    per_round = max(1, creates // rounds)
    totals = {name: {"wall": 0.0, "cpu": 0.0, "creates": 0} for name in VARIANTS}
    with (
        Ledger(f"sqlite:///{sqlite_dir / 'ledger.db'}") as sqlite,
        Ledger(postgres_url) as postgresql,
    ):
        ledgers: dict[str, Ledger | None] = {
            "none": None,
            "sqlite": sqlite,
            "postgresql": postgresql,
        }
        for number in range(rounds):
            order = VARIANTS if number % 2 == 0 else tuple(reversed(VARIANTS))
            for name in order:
                wall, cpu = asyncio.run(
                    _round(url, ledgers[name], f"r{number}", per_round, concurrency)
                )
                totals[name]["wall"] += wall
                totals[name]["cpu"] += cpu
                totals[name]["creates"] += per_round
    results: dict[str, Any] = {}
    for name, total in totals.items():
        results[name] = {
            "creates": total["creates"],
            "creates_per_s": round(total["creates"] / total["wall"], 1),
            "cpu_us_per_create": round(total["cpu"] / total["creates"] * 1e6, 1),
        }
    base = results["none"]
    for name in VARIANTS[1:]:
        results[name]["throughput_ratio"] = round(
            results[name]["creates_per_s"] / base["creates_per_s"], 3
        )
        results[name]["cpu_ratio"] = round(
            results[name]["cpu_us_per_create"] / base["cpu_us_per_create"], 3
        )
    return results


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=1200, help="per variant (%(default)s)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (%(default)s)")
    parser.add_argument("--concurrency", type=int, default=16, help="(%(default)s)")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="responder latency, s (%(default)s)"
    )
    parser.add_argument("--postgres-url", help="a PostgreSQL database (default: start a server)")
    parser.add_argument("--sqlite-dir", type=Path, help="where the SQLite ledger goes (a temp dir)")
    args = parser.parse_args()
    if args.quick:
        args.creates, args.rounds, args.concurrency = 40, 2, 4
    started = time.perf_counter()
    server = None
    postgres_url = args.postgres_url
    if postgres_url is None:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.postgres_server import PostgresServer

        server = PostgresServer().__enter__()
        postgres_url = server.new_database()
    try:
        with (
            responder_process(latency=args.latency) as responder,
            tempfile.TemporaryDirectory(dir=args.sqlite_dir) as folder,
        ):
            results: dict[str, Any] = {
                "params": {
                    "creates": args.creates,
                    "rounds": args.rounds,
                    "concurrency": args.concurrency,
                    "latency": args.latency,
                    "sqlite_filesystem": _filesystem(Path(folder)),
                },
                "results": run(
                    responder.url,
                    postgres_url,
                    Path(folder),
                    creates=args.creates,
                    rounds=args.rounds,
                    concurrency=args.concurrency,
                ),
            }
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    measured = results["results"]
    results["targets"] = {
        **TARGETS,
        **{
            f"pass_{name}": measured[name]["cpu_ratio"] <= TARGETS["cpu_ratio_at_most"]
            and measured[name]["throughput_ratio"] >= TARGETS["throughput_ratio_at_least"]
            for name in VARIANTS[1:]
        },
    }
    results["load_average"] = os.getloadavg()
    results["machine"] = machine_info()
    results["cpu_count"] = os.cpu_count()
    results["seconds"] = round(time.perf_counter() - started, 1)
    emit(results, args.json)


if __name__ == "__main__":
    main()
