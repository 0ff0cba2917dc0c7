"""Memory: peak RSS of a journaled ``create_many`` of 10,000 and of 100,000 cards.

The sandbox (no added latency, cards in memory) runs in its own process, so its memory
is not counted. Each campaign runs in a fresh child interpreter that reads its own peak
RSS with ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end; the child also notes
its RSS after the imports and the client's creation (the baseline) and samples its
current RSS as rows complete, to show the curve. Specs come from a generator, results are
counted and dropped: what is measured is what the SDK keeps.

Targets: the 100,000-card peak <= 150 MB and <= 1.2 x the 10,000-card peak; with
``--sizes 100000,1000000`` (issue 27) the million-card peak < 220 MB and < 1.5 x the
100,000-card peak.

A million cards against the sandbox take hours on a slow core, so ``--server responder``
answers from the bare asyncio responder (fixed answer, no latency, no store; about a tenth
of the sandbox's CPU per request) and ``--transport aiohttp`` sends on
``DefaultAioHttpClient``: the journal, the plan and the duplicate check, which are what
grows with the cards, are the same on every transport and server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    base_parser,
    child_env,
    emit,
    responder_process,
    sandbox_process,
)

TARGET_PEAK_MB = 150.0
TARGET_GROWTH = 1.2
#: Targets by (small, large) sizes: (large peak in MB, large/small peak). The default pair,
#: and issue 27's million cards (strictly under both).
TARGETS = {
    (10_000, 100_000): (TARGET_PEAK_MB, TARGET_GROWTH),
    (100_000, 1_000_000): (220.0, 1.5),
}
MB = 1024 * 1024


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux: KiB


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _peak_rss_bytes()


# --------------------------------------------------------------------------- child


def _specs(count: int) -> Iterator[Any]:
    from gatepay_async import CardSpec

    for index in range(count):
        yield CardSpec(
            ref=f"row-{index:07d}",
            title=f"Campaign card {index}",
            template_id=TEMPLATE_ID,
            currency="USDT",
            amount="0.99",
        )


async def _campaign(
    url: str, cards: int, concurrency: int, journal: Path, transport: str
) -> dict[str, Any]:
    from gatepay_async import AsyncGatePay, DefaultAioHttpClient

    http_client = DefaultAioHttpClient() if transport == "aiohttp" else None
    async with AsyncGatePay(
        client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url, http_client=http_client
    ) as gp:
        baseline = _peak_rss_bytes()
        states: Counter[str] = Counter()
        samples: list[tuple[int, float]] = []
        every = max(cards // 20, 1)
        done = 0
        started = time.perf_counter()
        run = gp.gift_cards.create_many(_specs(cards), concurrency=concurrency, journal=journal)
        async with run as results:
            async for result in results:
                states[str(result.state)] += 1
                done += 1
                if done % every == 0:
                    samples.append(
                        (
                            done,
                            round(_current_rss_bytes() / MB, 1),
                            round(time.perf_counter() - started),
                            round(os.getloadavg()[0], 1),
                        )
                    )
        seconds = time.perf_counter() - started
    return {
        "cards": cards,
        "states": dict(states),
        "seconds": round(seconds, 1),
        "cards_per_s": round(cards / seconds, 1),
        "baseline_rss_mb": round(baseline / MB, 1),
        "peak_rss_mb": round(_peak_rss_bytes() / MB, 1),
        "rss_samples_mb": samples,  # (cards done, RSS MB, seconds, load average)
        "cpu_seconds": round(time.process_time(), 1),
    }


def child_main(url: str, cards: int, concurrency: int, journal: Path, transport: str) -> None:
    result = asyncio.run(_campaign(url, cards, concurrency, journal, transport))
    result["journal_mb"] = round(journal.stat().st_size / MB, 1)
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- parent


def run_child(
    url: str, cards: int, concurrency: int, directory: Path, transport: str
) -> dict[str, Any]:
    journal = directory / f"journal-{cards}.jsonl"
    command = [
        sys.executable,
        __file__,
        "--child",
        "--url",
        url,
        "--cards",
        str(cards),
        "--concurrency",
        str(concurrency),
        "--journal-path",
        str(journal),
        "--transport",
        transport,
    ]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        command,
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=BENCH_DIR,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory child failed ({completed.returncode}):\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    journal.unlink(missing_ok=True)
    return result


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="small,large card counts")
    parser.add_argument("--concurrency", type=int, default=16, help="create_many concurrency")
    parser.add_argument(
        "--server",
        choices=("sandbox", "responder"),
        default="sandbox",
        help="answer from the sandbox, or from the bare responder (faster, fixed answer)",
    )
    parser.add_argument(
        "--transport", choices=("default", "aiohttp"), default="default", help="HTTP client"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cards", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--journal-path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.url, args.cards, args.concurrency, args.journal_path, args.transport)
        return
    if args.quick:
        args.sizes = "50,200"
    small, large = (int(x) for x in args.sizes.split(","))
    started = time.perf_counter()
    load_before = os.getloadavg()
    target_peak, target_growth = TARGETS.get((small, large), (TARGET_PEAK_MB, TARGET_GROWTH))
    strict = (small, large) in TARGETS and target_peak != TARGET_PEAK_MB
    server_process = (
        responder_process(latency=0.0) if args.server == "responder" else sandbox_process(0.0)
    )
    with server_process as server, tempfile.TemporaryDirectory() as directory:
        runs = {
            size: run_child(server.url, cards, args.concurrency, Path(directory), args.transport)
            for size, cards in (("small", small), ("large", large))
        }
    peak_small, peak_large = runs["small"]["peak_rss_mb"], runs["large"]["peak_rss_mb"]
    growth = peak_large / peak_small
    results = {
        "params": {
            "sizes": [small, large],
            "concurrency": args.concurrency,
            "latency": 0.0,
            "server": args.server,
            "transport": args.transport,
        },
        "runs": runs,
        "peak_large_mb": peak_large,
        "peak_small_mb": peak_small,
        "growth": round(growth, 3),
        "targets": {
            "peak_mb": target_peak,
            "growth": target_growth,
            "pass_peak": peak_large < target_peak if strict else peak_large <= target_peak,
            "pass_growth": growth < target_growth if strict else growth <= target_growth,
        },
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(results, args.json)


if __name__ == "__main__":
    main()
