"""Where the SDK's time goes: component timings and pyinstrument profiles of the hot path.

Three views, each written to the JSON results (and the profiles to ``benchmarks/profiles``):

1. **In-process per-call cost.** The SDK's async ``query`` / ``create`` and the raw httpx
   equivalent against ``httpx.MockTransport`` answering the responder's fixed envelopes:
   no network, no server, so the difference is the SDK's own CPU cost per call.
2. **Components.** Each step the SDK adds, timed alone in a loop (µs per call): the
   tenacity retry loop, building the request, the auth flow, signing, envelope decoding,
   the cattrs model, input validation, the body serialisation, the clock.
3. **Profiles.** pyinstrument (``async_mode="disabled"``: the thread's real stack, so
   time waiting for the socket shows as ``idle``) over (a) the per-call loop against the
   responder in its own process and (b) ``create_many`` at concurrency 64 against the
   sandbox (50 ms latency) in its own process. Each profile's time is split by package.

pyinstrument is optional: without it the profiles are skipped (views 1 and 2 still run).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
from _common import (
    BENCH_DIR,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    base_parser,
    compact_json,
    emit,
    raw_data,
    raw_signed_headers,
    responder_process,
    sandbox_process,
    without_machine_paths,
)
from _responder import CREATE_ANSWER, QUERY_ANSWER
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from gatepay_async import AsyncGatePay, CardSpec
from gatepay_async._http.auth import GatePayAuth
from gatepay_async._http.clock import ServerClock
from gatepay_async._http.retry import RetryPolicy, should_retry, wait_after_attempt
from gatepay_async._http.signing import sign
from gatepay_async._primitives.synchronization import async_sleep
from gatepay_async._wire.decoding import decode_card
from gatepay_async._wire.envelope import decode_envelope, parse_json
from gatepay_async._wire.validation import build_create_request, card_lookup, dump_json

CARD_NUMBER = "1781747288859688"
logger = logging.getLogger("gatepay")
BASE = "http://gatepay.test"
PROFILES_DIR = BENCH_DIR / "profiles"
CREATE_ARGS: dict[str, Any] = {
    "title": "Holiday",
    "template_id": TEMPLATE_ID,
    "currency": "USDT",
    "amount": Decimal("0.99"),
}


# --------------------------------------------------------------------------- helpers


def _mock_handler(request: httpx.Request) -> httpx.Response:
    body = CREATE_ANSWER if request.url.path.endswith("/create") else QUERY_ANSWER
    return httpx.Response(
        200,
        content=body,
        headers={"content-type": "application/json", "date": formatdate(usegmt=True)},
    )


def _per_op_us(seconds: float, count: int) -> float:
    return round(seconds / count * 1e6, 2)


def time_sync(fn: Callable[[], object], count: int, repeats: int = 5) -> float:
    """Best-of-``repeats`` CPU µs per call of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, time.process_time() - start)
    return _per_op_us(best, count)


async def time_async(fn: Callable[[], Awaitable[object]], count: int, repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        for _ in range(count):
            await fn()
        best = min(best, time.process_time() - start)
    return _per_op_us(best, count)


# --------------------------------------------------------------------------- 1: in-process


async def in_process(count: int) -> dict[str, Any]:
    """SDK vs raw per call through MockTransport (client CPU only), µs per call."""
    transport = httpx.MockTransport(_mock_handler)
    async with (
        AsyncGatePay(
            client_id=CLIENT_ID,
            secret_key=SECRET_KEY,
            base_url=BASE,
            http_client=httpx.AsyncClient(transport=transport),
        ) as gp,
        httpx.AsyncClient(transport=transport) as raw,
    ):

        async def raw_query() -> Any:
            body = compact_json({"card_number": CARD_NUMBER})
            response = await raw.post(
                BASE + "/v1/pay/gift/query", content=body, headers=raw_signed_headers(body)
            )
            return raw_data(response.status_code, response.content)

        async def raw_create() -> Any:
            body = compact_json(
                {
                    "title": "Holiday",
                    "templateId": TEMPLATE_ID,
                    "currency": "USDT",
                    "amount": "0.99",
                }
            )
            response = await raw.post(
                BASE + "/v1/pay/gift/create", content=body, headers=raw_signed_headers(body)
            )
            return raw_data(response.status_code, response.content)

        results: dict[str, Any] = {}
        for op, sdk_call, raw_call in (
            ("query", lambda: gp.gift_cards.query(card_number=CARD_NUMBER), raw_query),
            ("create", lambda: gp.gift_cards.create(**CREATE_ARGS), raw_create),
        ):
            await time_async(sdk_call, count // 5, 1)  # warm up
            await time_async(raw_call, count // 5, 1)
            sdk_best = raw_best = float("inf")
            for _ in range(7):  # alternate, keep the best of each: noise only adds time
                sdk_best = min(sdk_best, await time_async(sdk_call, count, 1))
                raw_best = min(raw_best, await time_async(raw_call, count, 1))
            results[op] = {
                "sdk_us": sdk_best,
                "raw_us": raw_best,
                "overhead_us": round(sdk_best - raw_best, 2),
                "ratio": round(sdk_best / raw_best, 3),
            }
    return results


# --------------------------------------------------------------------------- 2: components


def logging_checks() -> None:
    started = time.perf_counter()
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", started)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", started)


async def _paired_async(
    sdk: Callable[[], Awaitable[object]], raw: Callable[[], Awaitable[object]], count: int
) -> float:
    """SDK minus raw, each the best of 7 alternating repeats of ``count`` calls."""
    best_sdk = best_raw = float("inf")
    for _ in range(7):
        best_sdk = min(best_sdk, await time_async(sdk, count, 1))
        best_raw = min(best_raw, await time_async(raw, count, 1))
    return round(best_sdk - best_raw, 2)


def _paired(sdk: Callable[[], object], raw: Callable[[], object], count: int) -> float:
    """SDK minus raw, each the best of 7 alternating repeats of ``count`` calls."""
    best_sdk = best_raw = float("inf")
    for _ in range(7):
        best_sdk = min(best_sdk, time_sync(sdk, count, 1))
        best_raw = min(best_raw, time_sync(raw, count, 1))
    return round(best_sdk - best_raw, 2)


async def components(count: int) -> list[dict[str, Any]]:
    """Each step of the SDK's per-call path timed alone (CPU µs per call).

    A difference (SDK step minus its raw equivalent) is measured in alternating repeats,
    keeping the best time of each side: noise from other work only ever adds time.
    """
    transport = httpx.MockTransport(_mock_handler)
    client = httpx.AsyncClient(transport=transport, headers={"User-Agent": "bench"})
    auth = GatePayAuth(CLIENT_ID, SECRET_KEY, clock=ServerClock())
    query_body = dump_json({"card_number": CARD_NUMBER})
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    timeout = httpx.Timeout(30.0)
    response = httpx.Response(200, content=CREATE_ANSWER, headers={"date": "x"})
    data = decode_envelope(response, method="POST", path="/v1/pay/gift/create")
    date = formatdate(usegmt=True)
    clock = ServerClock()
    clock.observe(date)
    presigned = {**headers, **raw_signed_headers(query_body)}
    url = BASE + "/v1/pay/gift/query"

    def build() -> httpx.Request:
        return client.build_request(
            "POST", url, content=query_body, headers=headers, timeout=timeout
        )

    def build_presigned() -> httpx.Request:
        return client.build_request("POST", url, content=query_body, headers=presigned)

    def direct_request() -> httpx.Request:
        return httpx.Request(
            "POST",
            url,
            content=query_body,
            headers=presigned,
            extensions={"timeout": timeout.as_dict()},
        )

    async def bare() -> int:
        return 1

    async def with_tenacity() -> int:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(3),
            wait=wait_after_attempt(first_attempt=1),
            retry=retry_if_exception(lambda exc: should_retry(RetryPolicy.READ, exc)),
            sleep=async_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await bare()
        raise AssertionError

    async def send_with_auth() -> httpx.Response:
        return await client.send(build(), auth=auth)

    async def send_unsigned() -> httpx.Response:
        return await client.send(build())

    requests: list[httpx.Request] = []

    def sign_next() -> None:
        auth.sign_request(requests.pop())

    def observe_date() -> int:
        clock.observe(date)
        return clock.now_ms()

    def paired_async(
        sdk: Callable[[], Awaitable[object]], raw: Callable[[], Awaitable[object]]
    ) -> Awaitable[float]:
        return _paired_async(sdk, raw, count)

    def paired(sdk: Callable[[], object], raw: Callable[[], object]) -> float:
        return _paired(sdk, raw, count)

    def best(fn: Callable[[], object]) -> float:
        return time_sync(fn, count, 7)

    def best_signing() -> float:
        result = float("inf")
        for _ in range(7):
            requests[:] = [build() for _ in range(count)]
            result = min(result, time_sync(sign_next, count, 1))
        return result

    rows: list[tuple[str, str, float]] = [
        (
            "tenacity AsyncRetrying: build + one successful attempt",
            "minus a bare await",
            await paired_async(with_tenacity, bare),
        ),
        (
            "GatePayAuth in client.send: signing + auth-flow generator + Date",
            "send(auth=) minus send() of the same unsigned request",
            await paired_async(send_with_auth, send_unsigned),
        ),
        (
            "  of which GatePayAuth.sign_request",
            "nonce, HMAC-SHA512, 4 headers set",
            best_signing(),
        ),
        (
            "  raw equivalent: sign + header dict + 4 more headers in build_request",
            "what the raw client pays instead",
            round(best(lambda: raw_signed_headers(query_body)) + paired(build_presigned, build), 2),
        ),
        (
            "  sign() alone",
            "HMAC-SHA512",
            best(lambda: sign(SECRET_KEY, "1795311629670", "0" * 32, query_body)),
        ),
        (
            "decode_envelope (create answer)",
            "minus raw's json.loads + status check",
            paired(
                lambda: decode_envelope(response, method="POST", path="/v1/pay/gift/create"),
                lambda: raw_data(200, CREATE_ANSWER),
            ),
        ),
        (
            "  parse_json: json.loads(parse_float=Decimal)",
            "minus plain json.loads",
            paired(lambda: parse_json(CREATE_ANSWER), lambda: json.loads(CREATE_ANSWER)),
        ),
        ("decode_card: cattrs structure of GiftCard", "SDK only", best(lambda: decode_card(data))),
        (
            "build_create_request: validation + body",
            "minus raw's compact json.dumps",
            paired(
                lambda: build_create_request(**CREATE_ARGS),
                lambda: compact_json(
                    {
                        "title": "Holiday",
                        "templateId": TEMPLATE_ID,
                        "currency": "USDT",
                        "amount": "0.99",
                    }
                ),
            ),
        ),
        (
            "card_lookup + dump_json (query body)",
            "minus raw's compact json.dumps",
            paired(
                lambda: dump_json(dict([card_lookup(CARD_NUMBER, None)])),
                lambda: compact_json({"card_number": CARD_NUMBER}),
            ),
        ),
        (
            "logging: 2 isEnabledFor(DEBUG) + perf_counter",
            "logging off",
            best(logging_checks),
        ),
        (
            "ServerClock.observe (same Date) + now_ms",
            "per attempt",
            best(observe_date),
        ),
        (
            "client.build_request (headers, timeout, content)",
            "SDK and raw both pay it",
            best(build),
        ),
        (
            "  httpx.Request(...) with every header given",
            "what building it directly costs",
            best(direct_request),
        ),
    ]
    await client.aclose()
    return [{"component": n, "note": note, "us": us} for n, note, us in rows]


# --------------------------------------------------------------------------- 3: profiles


def _package(path: str, function: str) -> str:
    if path == "<built-in>" or not path:
        if "poll" in function or "select" in function:
            return "idle (waiting for I/O)"
        if function.startswith("socket."):
            # On a busy 2-core machine the peer often runs inside our send(): this is
            # mostly the server's time, charged to the client's wall clock.
            return "socket syscalls"
        return ""
    if path.endswith("selectors.py"):
        return "idle (waiting for I/O)"
    for marker in ("gatepay_async", "gatepay_sync", "_common", "profile_hot_path", "bench_"):
        if marker in path:
            return "gatepay (SDK)" if marker.startswith("gatepay") else "benchmark code"
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for stdlib in ("asyncio", "json", "email", "logging", "hmac", "hashlib", "secrets", "ssl"):
        if f"/{stdlib}/" in path or path.endswith(f"/{stdlib}.py"):
            return f"stdlib {stdlib}"
    return "stdlib (other)"


def split_by_package(profiler: Any) -> dict[str, float]:
    """Self time per package (built-ins charged to their caller), as % of the total."""
    root = profiler.last_session.root_frame()
    totals: dict[str, float] = defaultdict(float)

    def walk(frame: Any, inherited: str) -> None:
        own = _package(frame.file_path or "", frame.function or "")
        package = own or inherited or "other"
        children = frame.children
        self_time = frame.time - sum(child.time for child in children)
        if self_time > 0:
            totals[package] += self_time
        for child in children:
            walk(child, package)

    if root is None:
        return {}
    walk(root, "")
    total = sum(totals.values()) or 1.0
    shares = {k: round(100 * v / total, 1) for k, v in totals.items()}
    return dict(sorted(shares.items(), key=lambda kv: kv[1], reverse=True))


def _write_profile(profiler: Any, name: str, out_dir: Path | None) -> str | None:
    """Write the profile's call tree and flat view; returns its repo-relative path."""
    if out_dir is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.txt"
    text = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False)
    flat = profiler.output_text(unicode=False, color=False, flat=True)
    report = text + "\n\nFlat (self time):\n" + _head(flat, 45) + "\n"
    path.write_text(without_machine_paths(report), encoding="utf-8")
    try:
        return str(path.resolve().relative_to(BENCH_DIR.parent))
    except ValueError:
        return path.name


def _head(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[:lines])


async def profile_per_call(
    url: str, calls: int, profiler_cls: Any, out_dir: Path | None
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url) as gp:
        ops: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("query", lambda: gp.gift_cards.query(card_number=CARD_NUMBER)),
            ("create", lambda: gp.gift_cards.create(**CREATE_ARGS)),
        ]
        for op, call in ops:
            for _ in range(50):
                await call()
            profiler = profiler_cls(interval=0.0005, async_mode="disabled")
            profiler.start()
            for _ in range(calls):
                await call()
            profiler.stop()
            results[op] = {
                "by_package_pct": split_by_package(profiler),
                "profile": _write_profile(profiler, f"per_call_async_{op}", out_dir),
            }
    return results


def _specs(count: int) -> Iterator[CardSpec]:
    for index in range(count):
        yield CardSpec(
            ref=f"p-{index}",
            title=f"Bench {index}",
            template_id=TEMPLATE_ID,
            currency="USDT",
            amount="0.99",
        )


async def profile_create_many(
    url: str, cards: int, profiler_cls: Any, out_dir: Path | None
) -> dict[str, Any]:
    async with AsyncGatePay(client_id=CLIENT_ID, secret_key=SECRET_KEY, base_url=url) as gp:
        warm = (CardSpec(f"w-{i}", "warm", TEMPLATE_ID, "USDT", "1") for i in range(64))
        async with gp.gift_cards.create_many(warm, concurrency=64) as results:
            async for _ in results:
                pass
        profiler = profiler_cls(interval=0.001, async_mode="disabled")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        profiler.start()
        issued = 0
        async with gp.gift_cards.create_many(_specs(cards), concurrency=64) as results:
            async for result in results:
                issued += result.issued
        profiler.stop()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "cards": cards,
        "issued": issued,
        "cards_per_s": round(issued / wall, 1),
        "client_cpu_us_per_card": round(cpu / max(issued, 1) * 1e6, 1),
        "by_package_pct": split_by_package(profiler),
        "profile": _write_profile(profiler, "create_many_c64", out_dir),
    }


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="loop size for component timings")
    parser.add_argument("--calls", type=int, default=500, help="calls per per-call profile")
    parser.add_argument("--cards", type=int, default=800, help="cards in the create_many profile")
    parser.add_argument(
        "--profiles-dir",
        type=Path,
        default=None,
        help="where to write the profiles (default benchmarks/profiles; --quick: nowhere)",
    )
    args = parser.parse_args()
    out_dir = args.profiles_dir or (None if args.quick else PROFILES_DIR)
    if args.quick:
        args.count, args.calls, args.cards = 50, 20, 40
    started = time.perf_counter()
    results: dict[str, Any] = {
        "in_process": asyncio.run(in_process(args.count)),
        "components": asyncio.run(components(args.count)),
    }
    try:
        from pyinstrument import Profiler
    except ImportError:
        results["profiles"] = {"unavailable": "pyinstrument is not installed"}
    else:
        with responder_process() as responder:
            per_call = asyncio.run(profile_per_call(responder.url, args.calls, Profiler, out_dir))
        with sandbox_process(0.05) as sandbox:
            bulk = asyncio.run(profile_create_many(sandbox.url, args.cards, Profiler, out_dir))
        results["profiles"] = {"per_call": per_call, "create_many": bulk}
    results["seconds"] = round(time.perf_counter() - started, 1)
    emit(results, args.json)


if __name__ == "__main__":
    main()
