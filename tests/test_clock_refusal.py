"""clock_refusal: the pure predicate behind the one re-sign after a clock refusal."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest

from gatepay_async import _codes
from gatepay_async._http.clock import TIMESTAMP_WINDOW_MS, clock_refusal

SERVER_S = 1_737_942_105  # a whole second, so the Date header is exact
DATE = email.utils.formatdate(SERVER_S, usegmt=True)
SERVER_MS = SERVER_S * 1000


def refused(signed_ms: int, **overrides: Any) -> bool:
    arguments: dict[str, Any] = {
        "status_code": 401,
        "envelope_status": "FAIL",
        "code": None,
        "date_header": DATE,
        "signed_timestamp": str(signed_ms),
    }
    arguments.update(overrides)
    return clock_refusal(**arguments)


@pytest.mark.parametrize(
    ("signed_ms", "expected"),
    [
        (SERVER_MS, False),
        (SERVER_MS - TIMESTAMP_WINDOW_MS, False),  # on the edge: inside
        (SERVER_MS - TIMESTAMP_WINDOW_MS - 1, True),
        (SERVER_MS + 999 + TIMESTAMP_WINDOW_MS, False),  # Date names the second: +999 ms
        (SERVER_MS + 999 + TIMESTAMP_WINDOW_MS + 1, True),
        (SERVER_MS - 60_000, True),
        (SERVER_MS + 60_000, True),
    ],
)
def test_the_date_decides(signed_ms: int, expected: bool) -> None:
    assert refused(signed_ms) is expected


def test_a_timestamp_code_adds_to_the_evidence_but_never_replaces_it() -> None:
    code = _codes.BAD_TIMESTAMP.code
    assert refused(SERVER_MS - 9_000, code=code)
    assert not refused(SERVER_MS - 9_000, code="400001")
    assert not refused(SERVER_MS, code=code)
    assert not refused(SERVER_MS - 60_000, code=code, date_header=None)


@pytest.mark.parametrize(
    ("status_code", "envelope_status", "expected"),
    [
        (401, None, True),
        (403, "FAIL", True),
        (400, None, True),
        (200, "FAIL", True),
        (200, "SUCCESS", False),
        (200, None, False),
        (429, "FAIL", True),  # a FAIL envelope is a refusal, whatever the status
        (429, None, False),
        (503, None, False),
        (302, None, False),
    ],
)
def test_only_refusals_count(status_code: int, envelope_status: Any, expected: bool) -> None:
    assert (
        refused(SERVER_MS - 60_000, status_code=status_code, envelope_status=envelope_status)
        is expected
    )


@pytest.mark.parametrize("date", [None, "", "yesterday", "Mon, 99 Foo 2026"])
def test_an_unreadable_date_is_no_evidence(date: str | None) -> None:
    assert not refused(SERVER_MS - 60_000, date_header=date)


@pytest.mark.parametrize("signed", [None, "", "abc"])
def test_an_unreadable_signed_timestamp_is_no_evidence(signed: str | None) -> None:
    assert not refused(0, signed_timestamp=signed)


def test_every_code_is_marked_with_its_source() -> None:
    documented = {c.code for c in _codes.ALL_CODES if c.source is _codes.Source.GATEPAY}
    invented = {c.code for c in _codes.ALL_CODES if c.source is _codes.Source.SANDBOX}
    assert documented == {"000000", "400001", "400007", "300001"}
    assert invented == {"400002", "400003", "400004", "400005"}
    assert invented == _codes.AUTHENTICATION_CODES


def test_the_sandbox_and_the_sdk_share_the_codes() -> None:
    from gatepay_async import _errors
    from gatepay_async.sandbox import _responses

    assert _codes.BAD_TIMESTAMP.code == _responses.CODE_BAD_TIMESTAMP
    assert _codes.INVALID_PARAMETERS.code == _responses.CODE_INVALID
    assert _errors.AUTHENTICATION_CODES is _codes.AUTHENTICATION_CODES
    assert _errors.INVALID_REQUEST_CODES is _codes.INVALID_REQUEST_CODES
