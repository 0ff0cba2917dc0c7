"""No card key and no secret reaches tracing or error-tracking tools set up as their own
documentation says: OpenTelemetry's httpx and aiohttp-client instrumentations, Sentry
(default integrations, tracing on) and ddtrace (httpx and aiohttp patched).

Each run is ``tests/tracing_run.py`` in a fresh interpreter (these tools patch httpx and
aiohttp for the whole process; ddtrace cannot be undone): create, query by key and by
number, balance by number and by key, merchant_balance and list_templates, then each of
them against a sandbox answering 503, a closed port, and a server answering a create with
a card under HTTP 500; async on httpx and on the aiohttp transport, and sync. Every span
(attributes, name, events), envelope (spans, breadcrumbs) and log record is searched for
any 8 characters of the signing secret, the api key and every card key.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.tracing_run import sandbox_process

RUN = Path(__file__).with_name("tracing_run.py")
ROOT = RUN.parent.parent
#: The package each tool's run needs.
NEEDS = {
    "otel": "opentelemetry.instrumentation.httpx",
    "otel-client": "opentelemetry.instrumentation.httpx",
    "sentry": "sentry_sdk",
    "ddtrace": "ddtrace",
}
#: What recorded the spans: an OpenTelemetry instrumentation's name, a ddtrace component.
SOURCES = {
    "otel": {"opentelemetry.instrumentation.httpx", "opentelemetry.instrumentation.aiohttp_client"},
    "otel-client": {"opentelemetry.instrumentation.httpx"},
    "ddtrace": {"httpx", "aiohttp_client"},
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[list[str]]:
    """The URLs of a healthy sandbox and of one answering 503, each in a process of its
    own, shared by every run (a run's tool sees only its own process)."""
    with sandbox_process() as healthy, sandbox_process("*:status=503") as failing:
        yield [healthy, failing]


def run(
    tool: str, sandboxes: list[str], *flags: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    pytest.importorskip(NEEDS[tool])
    environment = {
        **os.environ,
        # ddtrace: no agent, no telemetry, no remote configuration; a closed loopback port.
        "DD_TRACE_AGENT_URL": f"http://127.0.0.1:{closed_port()}",
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_TRACE_STARTUP_LOGS": "false",
        **(env or {}),
    }
    done = subprocess.run(  # noqa: S603 (this interpreter and a script of the test suite)
        [sys.executable, str(RUN), tool, *flags, *sandboxes],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout))


def leaks(secret: str, text: str) -> list[str]:
    """Substrings of 8 characters of ``secret`` (or of its URL-encoded form) in ``text``."""
    found = []
    for form in {secret, quote(secret, safe="")}:
        found += [form[i : i + 8] for i in range(len(form) - 7) if form[i : i + 8] in text]
    return found


def leaked(secrets: list[str], text: str) -> dict[str, list[str]]:
    return {secret[:4]: found for secret in secrets if (found := leaks(secret, text))}


def check_recorded(tool: str, result: dict[str, Any]) -> str:
    """The tool did record the operations (through each instrumentation); its text."""
    text = "\n".join(result["records"])
    assert "/v1/pay/balance" in text
    assert "/v1/pay/gift/create" in text
    if tool in SOURCES:
        assert SOURCES[tool] <= set(result["sources"])
    else:  # Sentry: a transaction's spans (httpx and aiohttp) and an event with breadcrumbs
        assert "auto.http.httpx" in text
        assert "auto.http.aiohttp" in text
        assert "httplib" in text  # an HTTP breadcrumb
    assert len(result["in_url"]) == 4
    assert len(result["elsewhere"]) == 6
    return text


@pytest.mark.parametrize(
    ("tool", "flags", "env"),
    [
        pytest.param("otel", ["--redact"], {}, id="otel-request-hook-and-url-filter"),
        pytest.param(
            "otel",
            ["--redact"],
            {"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"},  # url.full as well as http.url
            id="otel-stable-semconv",
        ),
        pytest.param("otel-client", ["--redact"], {}, id="otel-instrument-client"),
        pytest.param("sentry", ["--redact"], {}, id="sentry-options"),
        pytest.param("ddtrace", ["--redact"], {}, id="ddtrace-obfuscation-regexp"),
        pytest.param(
            "ddtrace",
            [],
            {"DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING": "false"},
            id="ddtrace-no-client-query-string",
        ),
    ],
)
def test_with_the_documented_setting_no_key_or_secret_is_recorded(
    tool: str, flags: list[str], env: dict[str, str], sandboxes: list[str]
) -> None:
    result = run(tool, sandboxes, *flags, env=env)
    text = check_recorded(tool, result)
    logs = "\n".join(result["logs"])
    secrets = result["in_url"] + result["elsewhere"]
    assert leaked(secrets, text) == {}
    assert leaked(secrets, logs) == {}


@pytest.mark.parametrize("tool", ["otel", "otel-client", "sentry", "ddtrace"])
def test_without_it_only_the_key_balance_puts_in_the_url_is_recorded(
    tool: str, sandboxes: list[str]
) -> None:
    """What each tool does on its own (docs/reliability.md, "In your stack"): nothing but
    the key ``balance(key=...)`` puts in the URL, which OpenTelemetry and ddtrace record
    (and sentry-sdk 2.x; 3.x filters a ``key`` query parameter by default)."""
    result = run(tool, sandboxes)
    text = check_recorded(tool, result)
    logs = "\n".join(result["logs"])
    assert leaked(result["elsewhere"], text) == {}
    assert leaked(result["elsewhere"], logs) == {}
    url_keys = leaked(result["in_url"], text)
    if tool == "sentry":
        import sentry_sdk

        filters_keys = int(sentry_sdk.VERSION.split(".")[0]) >= 3
        assert (url_keys == {}) is filters_keys
    else:
        assert len(url_keys) == len(result["in_url"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "http://h/v1/pay/balance?key=q8Zf3Lm%2BWx0",
            "http://h/v1/pay/balance?key=q8Zf…",
        ),
        ("http://h/v1/pay/balance?cardNumber=GC123", "http://h/v1/pay/balance?cardNumber=GC123"),
        ("http://h/p?a=1&api_key=abcdefgh#top", "http://h/p?a=1&api_key=abcd…#top"),
        ("key=q8Zf3Lm%2BWx0", "key=q8Zf…"),  # Sentry's http.query holds the query alone
        ("http://h/v1/pay/balance", "http://h/v1/pay/balance"),
        ("/v1/pay/balance", "/v1/pay/balance"),
    ],
)
def test_redact_query_masks_secret_values_only(text: str, expected: str) -> None:
    from gatepay_async.integrations import redact_query

    assert redact_query(text) == expected


def test_the_otel_hook_rewrites_each_url_attribute_of_a_real_span() -> None:
    """``url.query`` too (the stable conventions' attribute for the query alone)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider

    from gatepay_async.integrations import otel_request_hook

    key = "q8Zf3Lm+Wx0/Tb7PkR2nYc5Vd1Hs9Ja4Ge6Ui8Oo3E="
    url = f"http://127.0.0.1:1/v1/pay/balance?key={quote(key, safe='')}"
    tracer = TracerProvider().get_tracer("test")
    attributes = {"http.url": url, "url.full": url, "url.query": f"key={quote(key, safe='')}"}
    with tracer.start_as_current_span("GET", attributes=attributes) as span:
        otel_request_hook(span, None)
        recorded = dict(span.attributes or {})
    assert leaked([key], json.dumps(recorded)) == {}
    assert recorded["url.full"] == "http://127.0.0.1:1/v1/pay/balance?key=q8Zf…"
