"""Client construction: ``GatePay(...)`` / ``AsyncGatePay(...)`` against an httpx client.

Every ``gatepay`` command and short script pays for building a client. In one process,
after one untimed build of each (imports and first-use caches out of the way), the four
constructors are timed in turn, ``--runs`` times (the order rotates run by run); each
object is closed untimed. Reported: medians, and each SDK client's median over the
median of ``httpx.Client()`` built in the same process. Target: at most 3x. For the
record, the old construction (32 pools built at once, each loading the CA bundle) is
timed too, a few times.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from _common import CLIENT_ID, SECRET_KEY, base_parser, emit, spread

from gatepay_async import AsyncGatePay
from gatepay_async._http.config import DEFAULT_LIMITS
from gatepay_async._http.sharding import shard_limits
from gatepay_sync import GatePay

TARGET_RATIO = 3.0
URL = "https://gatepay.invalid"


def _close(obj: object) -> None:
    if isinstance(obj, (httpx.Client, GatePay)):
        obj.close()
    elif isinstance(obj, (httpx.AsyncClient, AsyncGatePay)):
        asyncio.run(obj.aclose())


BUILDERS: dict[str, Callable[[], object]] = {
    "httpx.Client": httpx.Client,
    "httpx.AsyncClient": httpx.AsyncClient,
    "GatePay": lambda: GatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=URL),
    "AsyncGatePay": lambda: AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=URL),
}


def _before() -> list[httpx.HTTPTransport]:
    """What building the default client did before: 32 pools, each loading the CA bundle."""
    count, per_shard = shard_limits(DEFAULT_LIMITS)
    return [httpx.HTTPTransport(limits=per_shard) for _ in range(count)]


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="builds of each client")
    args = parser.parse_args()
    if args.quick:
        args.runs = 3
    started = time.perf_counter()
    names = list(BUILDERS)
    for build in BUILDERS.values():
        _close(build())
    samples: dict[str, list[float]] = {name: [] for name in names}
    for number in range(args.runs):
        for name in names[number % len(names) :] + names[: number % len(names)]:
            t0 = time.perf_counter()
            obj = BUILDERS[name]()
            samples[name].append((time.perf_counter() - t0) * 1000)
            _close(obj)
    # The old eager construction, a few times only (each costs about 32 httpx.Client()).
    before: list[float] = []
    for _ in range(max(1, args.runs // 10)):
        t0 = time.perf_counter()
        pools = _before()
        before.append((time.perf_counter() - t0) * 1000)
        for pool in pools:
            pool.close()
    samples["before: 32 eager pools"] = before
    ms = {
        name: {k: round(v, 3) for k, v in spread(values).items()}
        for name, values in samples.items()
    }
    base = ms["httpx.Client"]["median"]
    ratios = {name: round(ms[name]["median"] / base, 2) for name in ("GatePay", "AsyncGatePay")}
    results: dict[str, Any] = {
        "params": {"runs": args.runs},
        "ms": ms,
        "ratio_vs_httpx_client": ratios,
        "target_ratio": TARGET_RATIO,
        "pass": all(ratio <= TARGET_RATIO for ratio in ratios.values()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    emit(results, args.json)


if __name__ == "__main__":
    main()
