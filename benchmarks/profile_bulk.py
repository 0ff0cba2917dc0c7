"""cProfile of ``create_many`` on ``DefaultAioHttpClient`` (bulk, latency-bound).

The bare responder (``_responder.py --engine asyncio``) answers every create after
``--latency`` in its own process; one warm-up run, then ``--cards`` cards at
``--concurrency`` under cProfile. Prints the functions by own time and by cumulative
time, and the client's CPU per card without the profiler (a run before the profiled one):
the profiler's own overhead inflates every figure, so read its shares, not its times.

    python benchmarks/profile_bulk.py --cards 6000 --concurrency 256
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import time
from collections.abc import Iterator

from _common import CLIENT_ID, SECRET_KEY, Rows, base_parser, responder_process

from gatepay_async import AsyncGatePay, CardSpec, DefaultAioHttpClient


async def _run(url: str, specs: Iterator[CardSpec], concurrency: int) -> int:
    issued = 0
    async with DefaultAioHttpClient() as http_client:
        gp = AsyncGatePay(
            client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url, http_client=http_client
        )
        async with gp.gift_cards.create_many(specs, concurrency=concurrency) as results:
            async for result in results:
                issued += result.issued
    return issued


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--lines", type=int, default=45)
    parser.add_argument(
        "--no-cprofile",
        action="store_true",
        help="only the unprofiled run (to sample it from outside: py-spy record -- ...)",
    )
    args = parser.parse_args()
    rows = Rows()
    with responder_process(latency=args.latency) as server:
        asyncio.run(_run(server.url, rows.specs(count=args.concurrency), args.concurrency))
        cpu = time.process_time()
        wall = time.perf_counter()
        issued = asyncio.run(_run(server.url, rows.specs(count=args.cards), args.concurrency))
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        print(
            f"unprofiled: {issued} cards, {cpu / max(issued, 1) * 1e6:.0f} µs CPU per card,"
            f" {issued / wall:.0f} cards/s",
            flush=True,
        )
        if args.no_cprofile:
            return
        profiler = cProfile.Profile()
        profiler.enable()
        issued = asyncio.run(_run(server.url, rows.specs(count=args.cards), args.concurrency))
        profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.lines)
        print(out.getvalue())


if __name__ == "__main__":
    main()
