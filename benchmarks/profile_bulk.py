"""cProfile of ``create_many`` on ``DefaultAioHttpClient`` (bulk, latency-bound).

The bare responder (``_responder.py --engine asyncio``) answers every create after
``--latency`` in its own process; one warm-up run, then ``--cards`` cards at
``--concurrency`` under cProfile. Prints the functions by own time and by cumulative
time, and the client's CPU per card without the profiler (a run before the profiled one):
the profiler's own overhead inflates every figure, so read its shares, not its times.

    python benchmarks/profile_bulk.py --cards 6000 --concurrency 256

``--canned``: no network and no aiohttp: the client's transport (marked safe for the SDK's
direct send, as the SDK's own are) answers every create at once with the responder's
bytes. What is left is the SDK's own CPU per card (building, signing, reading, deciding,
structuring, the bulk bookkeeping), the figure to compare two versions of the code by.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import time
from collections.abc import Iterator

import httpx
from _common import CLIENT_ID, SECRET_KEY, Rows, base_parser, responder_process
from _responder import CREATE_ANSWER

from gatepay_async import AsyncGatePay, CardSpec, DefaultAioHttpClient
from gatepay_async._http.cookies import NoCookies

_ANSWER_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(CREATE_ANSWER)).encode()),
]


class CannedTransport(httpx.AsyncBaseTransport):
    """Answers every request at once with the responder's create answer."""

    DIRECT_SEND_SAFE = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=_ANSWER_HEADERS, stream=httpx.ByteStream(CREATE_ANSWER))


def _canned_client() -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=CannedTransport())
    client._cookies = NoCookies()
    return client


async def _run(url: str, specs: Iterator[CardSpec], concurrency: int, canned: bool) -> int:
    issued = 0
    async with _canned_client() if canned else DefaultAioHttpClient() as http_client:
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
    parser.add_argument("--canned", action="store_true", help="no network: see the docstring")
    parser.add_argument(
        "--no-cprofile",
        action="store_true",
        help="only the unprofiled run (to sample it from outside: py-spy record -- ...)",
    )
    args = parser.parse_args()
    rows = Rows()
    with responder_process(latency=args.latency) as server:
        canned = args.canned
        url = "http://127.0.0.1:9" if canned else server.url
        asyncio.run(_run(url, rows.specs(count=args.concurrency), args.concurrency, canned))
        cpu = time.process_time()
        wall = time.perf_counter()
        issued = asyncio.run(_run(url, rows.specs(count=args.cards), args.concurrency, canned))
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
        issued = asyncio.run(_run(url, rows.specs(count=args.cards), args.concurrency, canned))
        profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.lines)
        print(out.getvalue())


if __name__ == "__main__":
    main()
