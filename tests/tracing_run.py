"""Every GatePay operation, and a failure of each, under one tracing or error-tracking tool
set up as its own documentation says; prints, as JSON, everything the tool recorded.

Run in a fresh interpreter by ``tests/test_tracing_tools.py`` (``sys.executable
tests/tracing_run.py TOOL [--redact] SANDBOX FAILING``): these tools patch httpx and
aiohttp for the whole process, and ddtrace cannot be undone. ``--redact`` adds the
one-line setting ``gatepay_async.integrations`` offers for that tool. SANDBOX and FAILING
are the URLs of two sandboxes in processes of their own (``sandbox_process()``, the
second with ``*:status=503``), which every run shares. Only 127.0.0.1 is ever reached.

TOOL: ``otel`` (``HTTPXClientInstrumentor().instrument()`` and
``AioHttpClientInstrumentor().instrument()``), ``otel-client`` (the per-client form,
``HTTPXClientInstrumentor.instrument_client``), ``sentry`` (default integrations, tracing
on), ``ddtrace`` (``ddtrace.patch(httpx=True, aiohttp=True)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import attrs

from tests.raw_server import RawServer, Request, answer

TEMPLATE_ID = "255267012439183360"
SECRET_KEY = "sEcReT-Qz81mW0pLxTf6Ud3Ka9"
API_KEY = "ApIkEy-Vb27nT4rYeHj5Wc0Gs8"
#: Sent as ``balance(key=...)`` where the request fails: never a real card's.
FAILING_KEY = "FaIlKey+9ZpQ2wXc/4LmN8vRt6Yh1Ks3="
#: The card in the answer of a create that ends unknown (HTTP 500 holding a card).
RAW_CARD_KEY = "RaWkEy+Gc5Tn1Vb7Xm3Qp9Lw2Ej8Hd4Zs="
CLIENT_ID = "traced-client"
#: What recorded each span: an OpenTelemetry instrumentation's name, a ddtrace component
#: (Sentry's spans name theirs in the envelope text: ``auto.http.httpx``).
SOURCES: list[str] = []
CREATE = {"title": "traced", "template_id": TEMPLATE_ID, "currency": "USDT", "amount": "1"}


@attrs.frozen
class Urls:
    sandbox: str  # a healthy sandbox
    failing: str  # a sandbox answering 503 to everything
    raw: str  # a server answering a create with a card under HTTP 500


class Secrets:
    """Secrets met in the run, by where they went; a repr that names none of them (an
    error tracker may serialise a frame's locals)."""

    def __init__(self) -> None:
        self.in_url: list[str] = [FAILING_KEY]  # balance(key=...): GatePay puts it in the URL
        self.elsewhere: list[str] = [SECRET_KEY, API_KEY, RAW_CARD_KEY]

    def __repr__(self) -> str:
        return "<Secrets>"


@contextlib.contextmanager
def sandbox_process(*faults: str) -> Iterator[str]:
    """A sandbox served by uvicorn in its own process on 127.0.0.1: the tools in this
    process see the SDK's side of each exchange only, as they would in a merchant's
    service."""
    port = closed_port()
    command = [sys.executable, "-m", "gatepay_async.sandbox", "--port", str(port)]
    command += ["--client-id", CLIENT_ID, "--pending-seconds", "0"]
    for fault in faults:
        command += ["--fault", fault]
    # The secret travels in the environment: a command line is recorded (Sentry's
    # subprocess breadcrumbs) and shown in process lists.
    env = {**os.environ, "GATEPAY_SANDBOX_SECRET_KEY": SECRET_KEY}
    process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed arguments)
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def card_in_a_500(conn: socket.socket, request: Request, server: RawServer) -> None:
    card = {"card_num": "GC7700880099", "card_key": RAW_CARD_KEY, "amount": "1"}
    body = json.dumps({"status": "SUCCESS", "code": "000000", "data": card}).encode()
    answer(conn, "500 Internal Server Error", body, {"Content-Type": "application/json"})


def failing_calls(gp: Any) -> list[Callable[[], Any]]:
    cards = gp.gift_cards
    return [
        lambda: cards.create(**CREATE),
        lambda: cards.query(key=FAILING_KEY),
        lambda: cards.query(card_number="GC0000000001"),
        lambda: cards.balance(card_number="GC0000000001"),
        lambda: cards.balance(key=FAILING_KEY),
        lambda: cards.merchant_balance(),
        lambda: cards.list_templates(),
    ]


async def exercise_async(make: Callable[..., Any], urls: Urls, secrets: Secrets) -> None:
    from gatepay_async import GatePayError

    async with make(urls.sandbox) as gp:
        card = await gp.gift_cards.create(**CREATE)
        other = await gp.gift_cards.create(**CREATE)
        secrets.elsewhere.append(card.key)
        secrets.in_url.append(other.key)
        await gp.gift_cards.query(key=card.key)
        await gp.gift_cards.query(card_number=card.card_number)
        await gp.gift_cards.balance(card_number=card.card_number)
        await gp.gift_cards.balance(key=other.key)
        await gp.gift_cards.merchant_balance()
        await gp.gift_cards.list_templates()
    for url in (urls.failing, f"http://127.0.0.1:{closed_port()}", urls.raw):
        async with make(url) as gp:
            for call in failing_calls(gp):
                with contextlib.suppress(GatePayError):
                    await call()


def exercise_sync(make: Callable[[str], Any], urls: Urls, secrets: Secrets) -> None:
    from gatepay_sync import GatePayError

    with make(urls.sandbox) as gp:
        card = gp.gift_cards.create(**CREATE)
        other = gp.gift_cards.create(**CREATE)
        secrets.elsewhere.append(card.key)
        secrets.in_url.append(other.key)
        gp.gift_cards.query(key=card.key)
        gp.gift_cards.query(card_number=card.card_number)
        gp.gift_cards.balance(card_number=card.card_number)
        gp.gift_cards.balance(key=other.key)
        gp.gift_cards.merchant_balance()
        gp.gift_cards.list_templates()
    for url in (urls.failing, f"http://127.0.0.1:{closed_port()}", urls.raw):
        with make(url) as gp:
            for call in failing_calls(gp):
                with contextlib.suppress(GatePayError):
                    call()


def _arguments(url: str) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "secret_key": SECRET_KEY,
        "api_key": API_KEY,
        "base_url": url,
        "timeout": 5.0,
        "max_retries": 0,
    }


def async_clients(tool: str, redact: bool) -> list[Callable[..., Any]]:
    """How the async client is made: on httpx, and on the aiohttp transport."""
    import httpx

    from gatepay_async import AsyncGatePay, DefaultAioHttpClient

    if tool == "otel-client":
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        from gatepay_async.integrations import otel_async_request_hook

        def instrumented(http_client: httpx.AsyncClient) -> Callable[[str], AsyncGatePay]:
            def make(url: str) -> AsyncGatePay:
                hook = otel_async_request_hook if redact else None
                HTTPXClientInstrumentor.instrument_client(http_client, request_hook=hook)
                return AsyncGatePay(http_client=http_client, **_arguments(url))

            return make

        return [
            lambda url: instrumented(httpx.AsyncClient())(url),
            lambda url: instrumented(DefaultAioHttpClient())(url),
        ]

    def plain(url: str) -> AsyncGatePay:
        return AsyncGatePay(**_arguments(url))

    def on_aiohttp(url: str) -> AsyncGatePay:
        return AsyncGatePay(http_client=DefaultAioHttpClient(), **_arguments(url))

    return [plain, on_aiohttp]


def sync_client(tool: str, redact: bool) -> Callable[[str], Any]:
    import httpx

    from gatepay_sync import GatePay

    if tool == "otel-client":
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        from gatepay_async.integrations import otel_request_hook

        def instrumented(url: str) -> GatePay:
            http_client = httpx.Client()
            hook = otel_request_hook if redact else None
            HTTPXClientInstrumentor.instrument_client(http_client, request_hook=hook)
            return GatePay(http_client=http_client, **_arguments(url))

        return instrumented
    return lambda url: GatePay(**_arguments(url))


# -- the tools, set up as their documentation says ----------------------------------------


def set_up(tool: str, redact: bool) -> Callable[[], list[str]]:
    """Install the tool; return a function giving everything it recorded, as texts."""
    if tool in ("otel", "otel-client"):
        return _otel(tool, redact)
    if tool == "sentry":
        return _sentry(redact)
    if tool == "ddtrace":
        return _ddtrace(redact)
    raise SystemExit(f"unknown tool {tool!r}")


def _otel(tool: str, redact: bool) -> Callable[[], list[str]]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if tool == "otel":
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        if redact:
            from gatepay_async.integrations import (
                otel_async_request_hook,
                otel_request_hook,
                otel_url_filter,
            )

            HTTPXClientInstrumentor().instrument(
                request_hook=otel_request_hook, async_request_hook=otel_async_request_hook
            )
            AioHttpClientInstrumentor().instrument(url_filter=otel_url_filter)
        else:
            HTTPXClientInstrumentor().instrument()
            AioHttpClientInstrumentor().instrument()

    def recorded() -> list[str]:
        spans = exporter.get_finished_spans()
        SOURCES.extend(span.instrumentation_scope.name for span in spans)
        return [span.to_json() for span in spans]

    return recorded


def _sentry(redact: bool) -> Callable[[], list[str]]:
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class RecordingTransport(Transport):
        """Keeps every envelope; sends nothing."""

        def __init__(self, options: Any = None) -> None:
            super().__init__(options)
            self.envelopes: list[Any] = []

        def capture_envelope(self, envelope: Any) -> None:
            self.envelopes.append(envelope)

    transport = RecordingTransport()
    options: dict[str, Any] = {}
    if redact:
        from gatepay_async.integrations import sentry_options

        options = sentry_options()
    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",  # never reached: the transport sends nothing
        transport=transport,
        traces_sample_rate=1.0,
        **options,
    )

    def recorded() -> list[str]:
        sentry_sdk.capture_message("gatepay tracing probe")  # carries the breadcrumbs
        sentry_sdk.flush()
        return [envelope.serialize().decode("utf-8", "replace") for envelope in transport.envelopes]

    return recorded


def _ddtrace(redact: bool) -> Callable[[], list[str]]:
    # ddtrace reads its settings from the environment when it is imported.
    if redact:
        from gatepay_async.integrations import DDTRACE_QUERY_STRING_REGEXP

        os.environ["DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP"] = DDTRACE_QUERY_STRING_REGEXP
    import ddtrace
    from ddtrace.trace import TraceFilter, tracer

    spans: list[Any] = []

    class Keep(TraceFilter):
        """Keeps each finished trace here and drops it: nothing goes to an agent."""

        def process_trace(self, trace: list[Any]) -> None:
            spans.extend(trace)
            return None

    ddtrace.patch(httpx=True, aiohttp=True)
    tracer.configure(trace_processors=[Keep()])

    def recorded() -> list[str]:
        texts = []
        SOURCES.extend(str(span.get_tag("component")) for span in spans)
        for span in spans:
            texts.append(
                json.dumps(
                    {
                        "name": span.name,
                        "resource": span.resource,
                        "service": span.service,
                        "tags": span.get_tags(),
                        "metrics": span.get_metrics(),
                        "events": [repr(event) for event in getattr(span, "_events", [])],
                    },
                    default=str,
                )
            )
        return texts

    return recorded


# -- the run ----------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def main() -> None:
    tool, *sandboxes = (arg for arg in sys.argv[1:] if arg != "--redact")
    redact = "--redact" in sys.argv[2:]
    healthy, failing = sandboxes
    recorded = set_up(tool, redact)
    logs = Collect()
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.DEBUG)  # every logger, httpx's request lines too

    secrets = Secrets()
    with RawServer(card_in_a_500) as raw:
        urls = Urls(healthy, failing, raw.url)
        sections = async_clients(tool, redact)
        make_sync = sync_client(tool, redact)
        # Sentry records spans inside a transaction only.
        if tool == "sentry":
            import sentry_sdk

            start = getattr(sentry_sdk, "start_transaction", None) or sentry_sdk.start_span
        else:
            start = None
        for make in sections:
            with start(name="gatepay async") if start else contextlib.nullcontext():
                asyncio.run(exercise_async(make, urls, secrets))
        with start(name="gatepay sync") if start else contextlib.nullcontext():
            exercise_sync(make_sync, urls, secrets)
    texts = recorded()
    print(
        json.dumps(
            {
                "records": texts,
                "logs": logs.lines,
                "sources": SOURCES,
                "in_url": secrets.in_url,
                "elsewhere": secrets.elsewhere,
            }
        )
    )


if __name__ == "__main__":
    main()
