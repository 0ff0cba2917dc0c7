"""Per-call overhead: the SDK's query and create against raw httpx, async and sync.

Both clients talk to one minimal responder (``_responder.py``: uvicorn, fixed answers)
running in its own process on 127.0.0.1. The raw client makes the same signed request --
the same header set, signed with ``gatepay_async._http.signing.sign``, compact JSON body --
and decodes the answer with ``json.loads``; the SDK adds input validation, its retry
loop, the auth flow, envelope decoding and the model.

The variants run in alternating rounds within one run (SDK then raw, raw then SDK, ...),
each round ``--calls`` sequential calls on a warm keep-alive connection. Reported per
variant: the median over rounds of the wall-clock µs per call, the client's CPU µs per
call, and the SDK/raw ratio (the median of the per-round ratios; target <= 1.05).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
from _common import (
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    base_parser,
    compact_json,
    emit,
    median,
    raw_data,
    raw_signed_headers,
    responder_process,
)

from gatepay_async import AsyncGatePay

CARD_NUMBER = "1781747288859688"
OPS = ("query", "create")
CREATE_ARGS: dict[str, Any] = {
    "title": "Holiday",
    "template_id": TEMPLATE_ID,
    "currency": "USDT",
    "amount": Decimal("0.99"),
}
TARGET_RATIO = 1.05


def _raw_create_body() -> bytes:
    return compact_json(
        {"title": "Holiday", "templateId": TEMPLATE_ID, "currency": "USDT", "amount": "0.99"}
    )


def _summarise(samples: dict[str, dict[str, list[float]]], calls: int) -> dict[str, Any]:
    """Per op: medians of wall and CPU µs/call, the paired ratio, the overhead."""
    summary: dict[str, Any] = {}
    for op in OPS:
        sdk, raw = samples[f"sdk_{op}"], samples[f"raw_{op}"]
        ratios = [s / r for s, r in zip(sdk["wall"], raw["wall"], strict=True)]
        sdk_us, raw_us = median(sdk["wall"]), median(raw["wall"])
        summary[op] = {
            "sdk_us": round(sdk_us, 1),
            "raw_us": round(raw_us, 1),
            "ratio": round(median(ratios), 3),
            "overhead_us": round(sdk_us - raw_us, 1),
            "sdk_cpu_us": round(median(sdk["cpu"]), 1),
            "raw_cpu_us": round(median(raw["cpu"]), 1),
            "cpu_overhead_us": round(median(sdk["cpu"]) - median(raw["cpu"]), 1),
            "round_ratios": [round(x, 3) for x in ratios],
            "pass": median(ratios) <= TARGET_RATIO,
        }
    summary["calls_per_round"] = calls
    return summary


def _new_samples() -> dict[str, dict[str, list[float]]]:
    return {f"{impl}_{op}": {"wall": [], "cpu": []} for op in OPS for impl in ("sdk", "raw")}


def _record(samples: dict[str, list[float]], wall: float, cpu: float, calls: int) -> None:
    samples["wall"].append(wall / calls * 1e6)
    samples["cpu"].append(cpu / calls * 1e6)


def _order(round_number: int) -> tuple[str, str]:
    return ("sdk", "raw") if round_number % 2 == 0 else ("raw", "sdk")


# --------------------------------------------------------------------------- async


async def run_async(url: str, rounds: int, calls: int, warmup: int) -> dict[str, Any]:
    query_url = url + "/v1/pay/gift/query"
    create_url = url + "/v1/pay/gift/create"
    async with (
        AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url) as gp,
        httpx.AsyncClient(timeout=30.0) as raw,
    ):

        async def raw_query() -> Any:
            body = compact_json({"card_number": CARD_NUMBER})
            response = await raw.post(query_url, content=body, headers=raw_signed_headers(body))
            return raw_data(response.status_code, response.content)

        async def raw_create() -> Any:
            body = _raw_create_body()
            response = await raw.post(create_url, content=body, headers=raw_signed_headers(body))
            return raw_data(response.status_code, response.content)

        variants: dict[str, Callable[[], Awaitable[Any]]] = {
            "sdk_query": lambda: gp.gift_cards.query(card_number=CARD_NUMBER),
            "raw_query": raw_query,
            "sdk_create": lambda: gp.gift_cards.create(**CREATE_ARGS),
            "raw_create": raw_create,
        }
        for call in variants.values():
            for _ in range(warmup):
                await call()
        samples = _new_samples()
        for number in range(rounds):
            for op in OPS:
                for impl in _order(number):
                    call = variants[f"{impl}_{op}"]
                    gc.collect()
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    for _ in range(calls):
                        await call()
                    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                    _record(samples[f"{impl}_{op}"], wall, cpu, calls)
    return _summarise(samples, calls)


# --------------------------------------------------------------------------- sync


def run_sync(url: str, rounds: int, calls: int, warmup: int) -> dict[str, Any]:
    try:
        from gatepay_sync import GatePay
    except ImportError as exc:
        return {"unavailable": f"gatepay_sync cannot be imported ({exc})"}
    query_url = url + "/v1/pay/gift/query"
    create_url = url + "/v1/pay/gift/create"
    with (
        GatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url) as gp,
        httpx.Client(timeout=30.0) as raw,
    ):

        def raw_query() -> Any:
            body = compact_json({"card_number": CARD_NUMBER})
            response = raw.post(query_url, content=body, headers=raw_signed_headers(body))
            return raw_data(response.status_code, response.content)

        def raw_create() -> Any:
            body = _raw_create_body()
            response = raw.post(create_url, content=body, headers=raw_signed_headers(body))
            return raw_data(response.status_code, response.content)

        variants: dict[str, Callable[[], Any]] = {
            "sdk_query": lambda: gp.gift_cards.query(card_number=CARD_NUMBER),
            "raw_query": raw_query,
            "sdk_create": lambda: gp.gift_cards.create(**CREATE_ARGS),
            "raw_create": raw_create,
        }
        for call in variants.values():
            for _ in range(warmup):
                call()
        samples = _new_samples()
        for number in range(rounds):
            for op in OPS:
                for impl in _order(number):
                    call = variants[f"{impl}_{op}"]
                    gc.collect()
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    for _ in range(calls):
                        call()
                    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                    _record(samples[f"{impl}_{op}"], wall, cpu, calls)
    return _summarise(samples, calls)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31, help="alternating rounds (%(default)s)")
    parser.add_argument("--calls", type=int, default=60, help="calls per round (%(default)s)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up calls per variant")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.warmup = 2, 10, 5
    started = time.perf_counter()
    with responder_process() as server:
        results: dict[str, Any] = {
            "params": {"rounds": args.rounds, "calls": args.calls, "warmup": args.warmup},
            "async": asyncio.run(run_async(server.url, args.rounds, args.calls, args.warmup)),
            "sync": run_sync(server.url, args.rounds, args.calls, args.warmup),
        }
    results["target_ratio"] = TARGET_RATIO
    results["seconds"] = round(time.perf_counter() - started, 1)
    emit(results, args.json)


if __name__ == "__main__":
    main()
