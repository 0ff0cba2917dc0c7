"""Fault injection, the fault spec language and the admin endpoints (through ASGITransport)."""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx
import pytest

from gatepay_async.sandbox import Fault, Sandbox, SandboxConfig, parse_fault
from gatepay_async.sandbox._faults import FaultSet
from tests.test_sandbox_support import (
    CREATE,
    QUERY,
    TEMPLATES,
    asgi_client,
    assert_fail,
    create_payload,
    get,
    now_ms,
    post,
    response_signature_ok,
    success_data,
)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(pending_seconds=0))


# -- parse_fault ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "create:status=503,retry_after=1,times=2",
            Fault(kind="status", operation="create", status=503, retry_after=1.0, times=2),
        ),
        ("*:latency=0.05", Fault(kind="latency", operation="*", latency=0.05)),
        ("query:drop_before,times=1", Fault(kind="drop_before", operation="query", times=1)),
        ("create:drop_after", Fault(kind="drop_after", operation="create")),
        ("balance:malformed_json", Fault(kind="malformed_json", operation="balance")),
        ("templates:html_error", Fault(kind="html_error", operation="templates")),
        ("*:html_error,status=504", Fault(kind="html_error", status=504)),
        ("create:wrong_content_type", Fault(kind="wrong_content_type", operation="create")),
        ("query:data_as_string,times=3", Fault(kind="data_as_string", operation="query", times=3)),
        ("*:reject_timestamp,times=1", Fault(kind="reject_timestamp", times=1)),
        ("*:clock_offset=30", Fault(kind="clock_offset", offset=30.0)),
        ("*:clock_offset=-12.5", Fault(kind="clock_offset", offset=-12.5)),
        ("create:drop_after,latency=0.5",
         Fault(kind="drop_after", operation="create", latency=0.5)),
        (" create : status = 429 , times = 1 ",
         Fault(kind="status", operation="create", status=429, times=1)),
    ],
)  # fmt: skip
def test_parse_fault_good_specs(spec: str, expected: Fault) -> None:
    fault = parse_fault(spec)
    assert fault == expected
    assert parse_fault(fault.spec) == fault


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "OPERATION:KIND"),
        ("create", "OPERATION:KIND"),
        ("create:", "OPERATION:KIND"),
        (":status=503", "OPERATION:KIND"),
        ("redeem:status=503", "unknown fault operation"),
        ("create:explode", "unknown kind"),
        ("create:status", "needs status"),
        ("create:status=abc", "status must be an integer"),
        ("create:status=200", "400-599"),
        ("create:status=503.5", "status must be an integer"),
        ("create:drop_before=3", "takes no value"),
        ("create:status=503,times=0", "positive integer"),
        ("create:status=503,times=-1", "positive integer"),
        ("create:status=503,times=1.5", "times must be an integer"),
        ("create:status=503,bogus=1", "unknown key"),
        ("create:status=503,times", "KEY=VALUE"),
        ("create:status=503,,times=1", "empty item"),
        ("create:status=503,times=1,times=2", "given twice"),
        ("*:latency", "needs latency"),
        ("*:latency=-1", ">= 0"),
        ("*:latency=nan", "finite"),
        ("*:latency=inf", "finite"),
        ("*:clock_offset", "needs offset"),
        ("create:drop_before,offset=3", "offset applies only"),
        ("create:drop_before,status=503", "status applies only"),
        ("create:drop_before,retry_after=1", "retry_after applies only"),
        ("create:status=503,retry_after=-1", ">= 0"),
    ],
)
def test_parse_fault_bad_specs_raise_clear_value_errors(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="bad fault spec") as info:
        parse_fault(spec)
    assert complaint in str(info.value)


def test_fault_validates_when_built_directly() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind="explode")
    with pytest.raises(ValueError, match="needs status"):
        Fault(kind="status", operation="create")
    with pytest.raises(ValueError, match="positive integer"):
        Fault(kind="drop_before", times=True)
    with pytest.raises(TypeError):
        FaultSet().add("create:status=503")  # type: ignore[arg-type]


def test_fault_set_selection_rules() -> None:
    faults = FaultSet()
    faults.add(Fault(kind="status", operation="create", status=503, times=1))
    faults.add(Fault(kind="html_error", operation="*", times=1))
    faults.add(Fault(kind="latency", operation="*", latency=0.25, times=2))
    faults.add(Fault(kind="clock_offset", operation="query", offset=5))

    first = faults.take("create")
    assert first.action is not None
    assert first.action.kind == "status"
    assert first.latency == 0.25
    assert first.offset == 0.0
    second = faults.take("create")
    assert second.action is not None
    assert second.action.kind == "html_error"
    third = faults.take("query")
    assert third.action is None
    assert third.latency == 0.0
    assert third.offset == 5.0
    assert [f.kind for f in faults.snapshot()] == ["clock_offset"]
    faults.clear()
    assert not faults
    assert faults.take("query").action is None


# -- each fault kind ------------------------------------------------------------------


@pytest.mark.anyio
async def test_status_fault_answers_unprocessed_with_retry_after(sandbox: Sandbox) -> None:
    sandbox.inject(parse_fault("create:status=503,retry_after=1,times=2"))
    async with asgi_client(sandbox) as client:
        first = await post(client, CREATE, create_payload())
        second = await post(client, CREATE, create_payload())
        third = await post(client, CREATE, create_payload())
    for response in (first, second):
        assert_fail(response, 503, "503000")
        assert response.headers["Retry-After"] == "1"
        assert response_signature_ok(response)
    success_data(third)
    assert "Retry-After" not in third.headers
    assert sandbox.store.count() == 1
    assert sandbox.attempts("create") == 3
    assert sandbox.faults == []


@pytest.mark.anyio
async def test_status_429_and_500_codes(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", operation="query", status=429, times=1))
    sandbox.inject(Fault(kind="status", operation="templates", status=500, retry_after=2.5))
    async with asgi_client(sandbox) as client:
        limited = await post(client, QUERY, {"key": "k"})
        broken = await get(client, TEMPLATES)
    assert_fail(limited, 429, "429000")
    assert "Retry-After" not in limited.headers
    assert_fail(broken, 500, "500000")
    assert broken.headers["Retry-After"] == "2.5"


@pytest.mark.anyio
async def test_latency_fault_delays_without_blocking_other_requests(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="latency", operation="templates", latency=0.3))
    async with asgi_client(sandbox) as client:
        started = time.perf_counter()
        success_data(await post(client, CREATE, create_payload()))
        fast = time.perf_counter() - started

        results: list[httpx.Response] = []

        async def one() -> None:
            results.append(await get(client, TEMPLATES))

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
        elapsed = time.perf_counter() - started
    assert fast < 0.25
    assert len(results) == 20
    assert all(r.status_code == 200 for r in results)
    assert 0.3 <= elapsed < 2.0  # 20 overlapping sleeps, not 6 seconds in a row


@pytest.mark.anyio
async def test_configured_latency_applies_to_every_gift_card_request() -> None:
    sandbox = Sandbox(SandboxConfig(latency=0.2))
    async with asgi_client(sandbox) as client:
        started = time.perf_counter()
        await get(client, TEMPLATES)
        gift = time.perf_counter() - started
        started = time.perf_counter()
        await client.get("/_sandbox/stats")
        admin = time.perf_counter() - started
    assert gift >= 0.2
    assert admin < 0.15


@pytest.mark.anyio
async def test_drop_before_breaks_the_connection_without_issuing(sandbox: Sandbox) -> None:
    sandbox.inject(parse_fault("create:drop_before,times=1"))
    async with asgi_client(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, CREATE, create_payload())
        success_data(await post(client, CREATE, create_payload(title="after")))
    assert sandbox.store.all_titles() == ["after"]
    assert sandbox.attempts("create") == 2


@pytest.mark.anyio
async def test_drop_after_issues_the_card_then_breaks_the_connection(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="drop_after", operation="create", times=1))
    async with asgi_client(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, CREATE, create_payload(title="lost answer"))
    assert sandbox.store.all_titles() == ["lost answer"]


@pytest.mark.anyio
async def test_malformed_json_fault_processes_then_truncates(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="malformed_json", operation="create", times=1))
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert sandbox.store.count() == 1


@pytest.mark.anyio
async def test_html_error_fault_answers_502_html_unprocessed(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="html_error", operation="create", times=1))
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload())
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text
    assert "502 Bad Gateway" in response.text
    assert sandbox.store.count() == 0


@pytest.mark.anyio
async def test_wrong_content_type_fault_processes_and_labels_json_as_text(
    sandbox: Sandbox,
) -> None:
    sandbox.inject(Fault(kind="wrong_content_type", operation="create", times=1))
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert json.loads(response.content)["status"] == "SUCCESS"
    assert sandbox.store.count() == 1


@pytest.mark.anyio
async def test_data_as_string_fault_sends_data_as_json_text(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="data_as_string", operation="create", times=1))
    async with asgi_client(sandbox) as client:
        response = await post(client, CREATE, create_payload())
        normal = await post(client, CREATE, create_payload())
    data = success_data(response)
    assert isinstance(data, str)
    assert json.loads(data)["card_num"].isdigit()
    assert isinstance(success_data(normal), dict)
    assert sandbox.store.count() == 2


@pytest.mark.anyio
async def test_reject_timestamp_fault_answers_400003_unprocessed(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="reject_timestamp", operation="create", times=1))
    async with asgi_client(sandbox) as client:
        rejected = await post(client, CREATE, create_payload())
        accepted = await post(client, CREATE, create_payload())
    assert_fail(rejected, 401, "400003")
    success_data(accepted)
    assert sandbox.store.count() == 1


@pytest.mark.anyio
async def test_clock_offset_fault_moves_date_header_and_timestamp_check(
    sandbox: Sandbox,
) -> None:
    sandbox.inject(Fault(kind="clock_offset", operation="*", offset=60, times=2))
    async with asgi_client(sandbox) as client:
        stale = await post(client, CREATE, create_payload())
        aligned = await post(client, CREATE, create_payload(), timestamp=now_ms() + 60_000)
        back_to_normal = await post(client, CREATE, create_payload())
    assert_fail(stale, 401, "400003")
    for response in (stale, aligned):
        skew = parsedate_to_datetime(response.headers["date"]).timestamp() - time.time()
        assert 50 < skew < 70
    success_data(aligned)
    success_data(back_to_normal)
    skew = parsedate_to_datetime(back_to_normal.headers["date"]).timestamp() - time.time()
    assert abs(skew) < 5


@pytest.mark.anyio
async def test_faults_hit_only_their_operation(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", operation="query", status=503))
    async with asgi_client(sandbox) as client:
        success_data(await post(client, CREATE, create_payload()))
        success_data(await get(client, TEMPLATES))
        assert_fail(await post(client, QUERY, {"key": "x"}), 503, "503000")
        assert_fail(await post(client, QUERY, {"key": "x"}), 503, "503000")
        sandbox.clear_faults()
        assert_fail(await post(client, QUERY, {"key": "x"}), 400, "400001")


@pytest.mark.anyio
async def test_wildcard_fault_hits_every_operation_until_used_up(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", operation="*", status=502, times=3))
    async with asgi_client(sandbox) as client:
        answers = [
            await post(client, CREATE, create_payload()),
            await post(client, QUERY, {"key": "x"}),
            await get(client, TEMPLATES),
            await get(client, TEMPLATES),
        ]
    assert [r.status_code for r in answers] == [502, 502, 502, 200]


@pytest.mark.anyio
async def test_faulted_requests_still_record_their_nonces(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(kind="status", operation="create", status=503, times=1))
    async with asgi_client(sandbox) as client:
        await post(client, CREATE, create_payload(), nonce="first")
        await post(client, CREATE, create_payload(), nonce="second")
    assert sandbox.nonces_seen == ["first", "second"]


@pytest.mark.anyio
async def test_config_faults_are_active_from_the_start() -> None:
    sandbox = Sandbox(SandboxConfig(faults=[parse_fault("create:status=503,times=1")]))
    async with asgi_client(sandbox) as client:
        assert_fail(await post(client, CREATE, create_payload()), 503, "503000")
        success_data(await post(client, CREATE, create_payload()))


# -- admin endpoints ------------------------------------------------------------------


@pytest.mark.anyio
async def test_admin_stats_faults_and_reset(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        await post(client, CREATE, create_payload())
        await get(client, TEMPLATES)
        stats = (await client.get("/_sandbox/stats")).json()
        assert stats["attempts"] == {"create": 1, "query": 0, "balance": 0, "templates": 1}
        assert stats["cards"] == 1
        assert stats["faults"] == []

        added = await client.post(
            "/_sandbox/faults", json={"spec": "create:status=503,retry_after=1,times=2"}
        )
        assert added.status_code == 200
        assert added.json() == {"faults": ["create:status=503,retry_after=1,times=2"]}
        assert_fail(await post(client, CREATE, create_payload()), 503, "503000")
        stats = (await client.get("/_sandbox/stats")).json()
        assert stats["faults"] == ["create:status=503,retry_after=1,times=1"]

        several = await client.post(
            "/_sandbox/faults", json={"specs": ["*:latency=0.01", "query:drop_before"]}
        )
        assert len(several.json()["faults"]) == 3

        cleared = await client.delete("/_sandbox/faults")
        assert cleared.json() == {"faults": []}
        assert sandbox.faults == []
        success_data(await post(client, CREATE, create_payload()))

        reset = await client.post("/_sandbox/reset")
        assert reset.status_code == 200
        stats = (await client.get("/_sandbox/stats")).json()
        assert stats["attempts"] == {"create": 0, "query": 0, "balance": 0, "templates": 0}
        assert stats["cards"] == 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"spec": "create:explode"}',
        b"{not json",
        b'{"spec": 5}',
        b'{"specs": "create:drop_after"}',
        b'{"other": 1}',
        b"[]",
    ],
)
@pytest.mark.anyio
async def test_admin_rejects_bad_fault_requests(sandbox: Sandbox, body: bytes) -> None:
    async with asgi_client(sandbox) as client:
        response = await client.post("/_sandbox/faults", content=body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert sandbox.faults == []


@pytest.mark.anyio
async def test_admin_fault_request_with_one_bad_spec_adds_none(sandbox: Sandbox) -> None:
    payload: dict[str, Any] = {"specs": ["create:drop_after", "create:nope"]}
    async with asgi_client(sandbox) as client:
        response = await client.post("/_sandbox/faults", json=payload)
    assert response.status_code == 400
    assert "nope" in response.json()["error"]
    assert sandbox.faults == []


@pytest.mark.anyio
async def test_timestamp_is_checked_on_arrival_not_after_the_latency() -> None:
    sandbox = Sandbox(SandboxConfig(timestamp_window=0.5, latency=0.8))
    async with asgi_client(sandbox) as client:
        sent = time.time()
        response = await post(client, CREATE, create_payload())
    success_data(response)
    answered = int(response.headers["X-GatePay-Timestamp"]) / 1000
    assert answered - sent >= 0.75
