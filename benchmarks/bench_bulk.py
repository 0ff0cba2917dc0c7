"""Bulk throughput: ``create_many`` against a raw httpx + anyio task group, same run.

The sandbox runs in its own process with ``--latency`` (50 ms) added to every answer.
At each concurrency (1, 16, 64, 256) the SDK's ``create_many`` (no journal) and the raw
baseline -- ``concurrency`` tasks in an anyio task group pulling rows from one shared
iterator, each sending the same signed create through one ``httpx.AsyncClient`` with the
SDK's connection limits and ``json.loads``-ing the answer -- run in ABBA order, each on a
fresh client warmed up with one create per slot (so its connections are open). A run
feeds rows for ``--seconds`` and then lets the requests in flight finish; cards/s is the
number issued over the whole run's time. Reported: the best run of each, efficiency
against the ideal (concurrency / latency) and against the raw baseline, and the CPU each
process used (cores busy on average), which shows whether the client or the sandbox is
saturated.

Also measured: the sequential figure (a plain loop over the sync client's ``create``),
``create_many`` with a journal at concurrency 64, and the ceiling of this machine: the
same comparison at concurrency 64 against a second sandbox with no added latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from _common import (
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    CpuMeter,
    Rows,
    add_concurrency_option,
    base_parser,
    compact_json,
    create_payload,
    emit,
    raw_data,
    raw_signed_headers,
    sandbox_process,
)

from gatepay_async import AsyncGatePay, CardSpec

CREATE_PATH = "/v1/pay/gift/create"
TARGET_CONCURRENCY = 64
TARGET_IDEAL = 0.90
TARGET_RAW = 0.95
LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)


def _measurement(meter: CpuMeter, issued: int, failed: int = 0) -> dict[str, Any]:
    wall = meter.wall
    return {
        "issued": issued,
        "not_issued": failed,
        "seconds": round(wall, 3),
        "cards_per_s": round(issued / wall, 1),
        "client_cores": round(meter.client_cpu / wall, 2),
        "server_cores": None if meter.server_cpu is None else round(meter.server_cpu / wall, 2),
        "client_cpu_us_per_card": round(meter.client_cpu / max(issued, 1) * 1e6, 1),
        "server_cpu_us_per_card": None
        if meter.server_cpu is None
        else round(meter.server_cpu / max(issued, 1) * 1e6, 1),
    }


async def sdk_create_many(
    gp: AsyncGatePay,
    specs: Iterator[CardSpec],
    concurrency: int,
    server_pid: int,
    journal: Path | None = None,
) -> dict[str, Any]:
    issued = failed = 0
    with CpuMeter(server_pid) as meter:
        run = gp.gift_cards.create_many(specs, concurrency=concurrency, journal=journal)
        async with run as results:
            async for result in results:
                if result.issued:
                    issued += 1
                else:
                    failed += 1
    return _measurement(meter, issued, failed)


async def raw_task_group(
    client: httpx.AsyncClient,
    url: str,
    rows: Iterator[int],
    concurrency: int,
    server_pid: int,
    *,
    warm_up: bool = False,
) -> dict[str, Any]:
    """The hand-written baseline: ``concurrency`` tasks sharing one iterator of rows."""
    create_url = url + CREATE_PATH
    issued = failed = 0

    async def worker() -> None:
        nonlocal issued, failed
        for index in rows:
            body = compact_json(create_payload(index))
            try:
                response = await client.post(
                    create_url, content=body, headers=raw_signed_headers(body)
                )
            except httpx.TransportError:
                if not warm_up:
                    raise
                failed += 1
                continue
            raw_data(response.status_code, response.content)
            issued += 1

    with CpuMeter(server_pid) as meter:
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)
    return _measurement(meter, issued, failed)


def _warm_rows(concurrency: int) -> int:
    return max(concurrency, 20)


async def measure_sdk(
    url: str,
    server_pid: int,
    rows: Rows,
    seconds: float,
    concurrency: int,
    journal: Path | None = None,
) -> dict[str, Any]:
    """A fresh client, warmed up (its connections open), then one measured run."""
    async with AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url) as gp:
        warm = rows.specs(count=_warm_rows(concurrency))
        await sdk_create_many(gp, warm, concurrency, server_pid)
        specs = rows.specs(seconds=seconds)
        return await sdk_create_many(gp, specs, concurrency, server_pid, journal)


async def measure_raw(
    url: str, server_pid: int, rows: Rows, seconds: float, concurrency: int
) -> dict[str, Any]:
    """A fresh httpx client, warmed up, then one measured run."""
    async with httpx.AsyncClient(timeout=30.0, limits=LIMITS) as client:
        warm = rows.numbers(count=_warm_rows(concurrency))
        await raw_task_group(client, url, warm, concurrency, server_pid, warm_up=True)
        measured = rows.numbers(seconds=seconds)
        return await raw_task_group(client, url, measured, concurrency, server_pid)


async def compare(
    url: str, server_pid: int, concurrency: int, seconds: float, repeats: int, rows: Rows
) -> dict[str, Any]:
    """SDK and raw at one concurrency, in ABBA... order, each run on a fresh warm client.

    Fresh clients per run: a connection left idle while the other implementation runs
    may be closed by the server's keep-alive timeout, and reusing it would fail a create.
    """
    runs: dict[str, list[dict[str, Any]]] = {"sdk": [], "raw": []}
    for number in range(repeats):
        for impl in ("sdk", "raw") if number % 2 == 0 else ("raw", "sdk"):
            if impl == "sdk":
                run = await measure_sdk(url, server_pid, rows, seconds, concurrency)
            else:
                run = await measure_raw(url, server_pid, rows, seconds, concurrency)
            runs[impl].append(run)
    best = {impl: max(runs[impl], key=lambda run: float(run["cards_per_s"])) for impl in runs}
    sdk_rate, raw_rate = best["sdk"]["cards_per_s"], best["raw"]["cards_per_s"]
    return {
        "concurrency": concurrency,
        "sdk_cards_per_s": sdk_rate,
        "raw_cards_per_s": raw_rate,
        "sdk_vs_raw": round(sdk_rate / raw_rate, 3) if raw_rate else None,
        "sdk_client_cpu_us_per_card": best["sdk"]["client_cpu_us_per_card"],
        "raw_client_cpu_us_per_card": best["raw"]["client_cpu_us_per_card"],
        "sdk_client_cores": best["sdk"]["client_cores"],
        "raw_client_cores": best["raw"]["client_cores"],
        "server_cores": max(
            (run["server_cores"] or 0.0) for impl_runs in runs.values() for run in impl_runs
        ),
        "runs": runs,
    }


async def journal_run(url: str, server_pid: int, rows: Rows, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        journal = Path(directory) / "journal.jsonl"
        result = await measure_sdk(url, server_pid, rows, seconds, TARGET_CONCURRENCY, journal)
    result["concurrency"] = TARGET_CONCURRENCY
    return result


def sequential_sync(url: str, server_pid: int, seconds: float, latency: float) -> dict[str, Any]:
    """What a plain loop over the sync client gets (ideal: 1 / latency per second)."""
    try:
        from gatepay_sync import GatePay
    except ImportError as exc:
        return {"unavailable": f"gatepay_sync cannot be imported ({exc})"}
    with GatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url) as gp:
        gp.gift_cards.create(title="warm", template_id=TEMPLATE_ID, currency="USDT", amount="1")
        issued = 0
        with CpuMeter(server_pid) as meter:
            for index in Rows().numbers(seconds=seconds):
                gp.gift_cards.create(
                    title=f"Bench {index}", template_id=TEMPLATE_ID, currency="USDT", amount="0.99"
                )
                issued += 1
    result = _measurement(meter, issued)
    result["ideal_cards_per_s"] = round(1 / latency, 1) if latency > 0 else None
    return result


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    add_concurrency_option(parser, [1, 16, 64, 256])
    parser.add_argument("--latency", type=float, default=0.05, help="sandbox latency, seconds")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of rows per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per implementation")
    parser.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure against a sandbox with no added latency",
    )
    args = parser.parse_args()
    if args.quick:
        args.concurrency, args.latency, args.seconds, args.repeats = [1, 8], 0.01, 0.3, 1
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows = Rows()
    levels: list[dict[str, Any]] = []
    with sandbox_process(args.latency) as server:
        for concurrency in args.concurrency:
            level = asyncio.run(
                compare(server.url, server.pid, concurrency, args.seconds, args.repeats, rows)
            )
            ideal = concurrency / args.latency
            level["ideal_cards_per_s"] = round(ideal, 1)
            level["sdk_vs_ideal"] = round(level["sdk_cards_per_s"] / ideal, 3)
            level["raw_vs_ideal"] = round(level["raw_cards_per_s"] / ideal, 3)
            levels.append(level)
            print(
                f"concurrency {concurrency}: sdk {level['sdk_cards_per_s']}/s, "
                f"raw {level['raw_cards_per_s']}/s, ideal {ideal:.0f}/s",
                flush=True,
            )
        with_journal = asyncio.run(journal_run(server.url, server.pid, rows, args.seconds))
        sequential = sequential_sync(server.url, server.pid, args.seconds, args.latency)
    ceiling: dict[str, Any] | None = None
    if args.ceiling:
        with sandbox_process(0.0) as fast:
            ceiling = asyncio.run(
                compare(fast.url, fast.pid, TARGET_CONCURRENCY, args.seconds, 1, rows)
            )
    results: dict[str, Any] = {
        "params": {"latency": args.latency, "seconds": args.seconds, "repeats": args.repeats},
        "levels": levels,
        "with_journal": with_journal,
        "sequential_sync": sequential,
        "ceiling_no_latency": ceiling,
        "targets": {
            "concurrency": TARGET_CONCURRENCY,
            "vs_ideal": TARGET_IDEAL,
            "vs_raw": TARGET_RAW,
        },
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    target = next((lv for lv in levels if lv["concurrency"] == TARGET_CONCURRENCY), None)
    if target is not None:
        results["targets"]["sdk_cards_per_s"] = target["sdk_cards_per_s"]
        results["targets"]["sdk_vs_ideal"] = target["sdk_vs_ideal"]
        results["targets"]["sdk_vs_raw"] = target["sdk_vs_raw"]
        results["targets"]["pass_ideal"] = target["sdk_vs_ideal"] >= TARGET_IDEAL
        results["targets"]["pass_raw"] = (target["sdk_vs_raw"] or 0) >= TARGET_RAW
    emit(results, args.json)


if __name__ == "__main__":
    main()
