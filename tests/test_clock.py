"""ServerClock: learning the server's time from Date headers."""

from __future__ import annotations

import email.utils
import time

import pytest

from gatepay_async._http.clock import ServerClock


def http_date(offset_seconds: float) -> str:
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


def test_starts_with_no_offset() -> None:
    clock = ServerClock()
    assert clock.offset_ms == 0.0
    assert abs(clock.now_ms() - time.time() * 1000) < 1000


def test_now_ms_is_milliseconds_since_the_epoch() -> None:
    now = ServerClock().now_ms()
    assert isinstance(now, int)
    assert len(str(now)) == 13


@pytest.mark.parametrize("offset", [0.0, 0.3, -0.3])
def test_offsets_under_a_second_are_ignored(offset: float) -> None:
    clock = ServerClock()
    clock.observe(http_date(offset))
    assert clock.offset_ms == 0.0


def test_learns_a_60_second_offset() -> None:
    clock = ServerClock()
    clock.observe(http_date(60))
    # The header has one-second resolution: the estimate lies within half a second of 60 s.
    assert 59_000 <= clock.offset_ms <= 61_000
    aligned = clock.now_ms() - time.time() * 1000
    assert 59_000 <= aligned <= 61_000


def test_learns_a_negative_offset() -> None:
    clock = ServerClock()
    clock.observe(http_date(-120))
    assert -121_000 <= clock.offset_ms <= -119_000
    assert -121_000 <= clock.now_ms() - time.time() * 1000 <= -119_000


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "Mon, 99 Foo 2024 00:00:00 GMT", "yesterday", "1737942105582"],
)
def test_garbage_date_headers_are_ignored(header: str | None) -> None:
    clock = ServerClock()
    clock.observe(http_date(60))
    learned = clock.offset_ms
    clock.observe(header)
    assert clock.offset_ms == learned


def test_garbage_does_not_create_an_offset() -> None:
    clock = ServerClock()
    clock.observe("not a date")
    assert clock.offset_ms == 0.0


def test_offset_goes_back_to_zero_when_the_clocks_agree_again() -> None:
    clock = ServerClock()
    clock.observe(http_date(60))
    assert clock.offset_ms > 0
    clock.observe(http_date(0))
    assert clock.offset_ms == 0.0


def test_a_repeated_header_is_not_reparsed_unless_forced() -> None:
    clock = ServerClock()
    header = http_date(60)
    clock.observe(header)
    assert clock.offset_ms > 0
    clock._offset_ms = 0.0  # pretend something reset it
    clock.observe(header)
    assert clock.offset_ms == 0.0
    clock.observe(header, force=True)
    assert 59_000 <= clock.offset_ms <= 61_000


def test_now_ms_follows_the_learned_offset() -> None:
    clock = ServerClock()
    before = clock.now_ms()
    clock.observe(http_date(3600))
    after = clock.now_ms()
    assert 3_599_000 <= after - before <= 3_601_500
