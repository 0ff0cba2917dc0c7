"""Retry timing with the real constants: back-off, its exponent and cap, jitter, and the
cap on a server's Retry-After. (The client tests patch the initial back-off to keep runs
fast; these check the numbers users wait for.)"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from tenacity import RetryCallState

from gatepay_async import APIConnectionError, APITimeoutError, RateLimitError
from gatepay_async._errors import RequestNotSentError, RequestNotSentTimeoutError
from gatepay_async._http import retry


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every jittered draw at its upper bound: the ceiling is what is returned."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


@pytest.mark.usefixtures("no_jitter")
@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 8.0), (7, 8.0), (30, 8.0)],
)
def test_back_off_doubles_from_a_quarter_second_up_to_eight(attempt: int, ceiling: float) -> None:
    assert retry.backoff(attempt) == ceiling
    assert retry.retry_wait(None, attempt=attempt) == ceiling


def test_back_off_is_full_jitter_between_zero_and_the_ceiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return (low + high) / 2

    monkeypatch.setattr(random, "uniform", uniform)
    assert retry.backoff(3) == 0.5
    assert draws == [(0, 1.0)]


def test_jittered_waits_spread_over_the_whole_range() -> None:
    state = random.getstate()
    try:
        random.seed(20261207)
        waits = [retry.backoff(4) for _ in range(400)]
    finally:
        random.setstate(state)
    assert all(0 <= wait <= 2.0 for wait in waits)
    assert min(waits) < 0.2
    assert max(waits) > 1.8
    assert len(set(waits)) > 390  # not one fixed wait


def rate_limited(retry_after: float | None) -> RateLimitError:
    return RateLimitError("slow down", status_code=429, method="GET", retry_after=retry_after)


@pytest.mark.usefixtures("no_jitter")
@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [(0.0, 0.0), (3, 3.0), (19.5, 19.5), (20.0, 20.0), (21, 20.0), (3600.0, 20.0), (1e9, 20.0)],
)
def test_retry_after_is_honoured_up_to_twenty_seconds(retry_after: float, wait: float) -> None:
    """A server cannot make a client sleep for hours."""
    assert retry.retry_wait(rate_limited(retry_after), attempt=1) == wait


@pytest.mark.usefixtures("no_jitter")
def test_no_retry_after_falls_back_to_back_off() -> None:
    assert retry.retry_wait(rate_limited(None), attempt=3) == 1.0


def state_after(attempt_number: int, exc: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt_number
    state.set_exception((type(exc), exc, None))
    return state


@pytest.mark.usefixtures("no_jitter")
def test_a_resumed_loop_waits_for_the_calls_own_attempt_number() -> None:
    wait = retry.wait_after_attempt(first_attempt=3)
    assert wait(state_after(1, APITimeoutError("t"))) == 1.0  # the call's 3rd attempt
    assert wait(state_after(2, APITimeoutError("t"))) == 2.0


@pytest.mark.usefixtures("no_jitter")
def test_a_loop_waits_for_the_retry_after_of_the_answer_it_just_had() -> None:
    """The tenacity wait reads the failed attempt's error: its Retry-After, not back-off.
    (The client tests that wait for a Retry-After race a random back-off.)"""
    wait = retry.wait_after_attempt(first_attempt=1)
    assert wait(state_after(1, rate_limited(7.0))) == 7.0
    assert wait(state_after(1, rate_limited(60.0))) == 20.0  # capped
    assert wait(state_after(1, rate_limited(None))) == 0.25  # none given: back-off


def test_sends_stop_at_the_limit_counting_earlier_attempts() -> None:
    stop = retry.stop_after_sends(3, rate_limited_sends=None, first_attempt=2)
    assert not stop(state_after(1, APITimeoutError("t")))  # 2nd send
    assert stop(state_after(2, APITimeoutError("t")))  # 3rd send: the limit


def test_a_bulk_runs_429_limit_replaces_max_sends() -> None:
    stop = retry.stop_after_sends(3, rate_limited_sends=8, first_attempt=1)
    assert not stop(state_after(3, rate_limited(None)))
    assert stop(state_after(8, rate_limited(None)))
    assert stop(state_after(3, APITimeoutError("t")))  # other errors keep max_sends


def test_another_error_after_more_429s_than_max_sends_stops_at_once() -> None:
    """A bulk run's 429s may take a create past ``max_sends``; the first other error then
    ends the loop (the limit is passed, not only reached)."""
    stop = retry.stop_after_sends(3, rate_limited_sends=8, first_attempt=1)
    assert not stop(state_after(5, rate_limited(None)))  # the 5th send, refused with 429
    assert stop(state_after(6, APITimeoutError("t")))  # the 6th: past max_sends
    resumed = retry.stop_after_sends(3, rate_limited_sends=None, first_attempt=5)
    assert resumed(state_after(1, APITimeoutError("t")))  # a call already past its limit


@pytest.mark.parametrize(
    ("exc", "cls", "sent"),
    [
        (httpx.ConnectError("refused"), RequestNotSentError, False),
        (httpx.ConnectTimeout("connect"), RequestNotSentTimeoutError, False),
        (httpx.PoolTimeout("no free connection"), RequestNotSentTimeoutError, False),
        (httpx.ReadTimeout("read"), APITimeoutError, True),
        (httpx.WriteTimeout("write"), APITimeoutError, True),
        (httpx.ReadError("reset"), APIConnectionError, True),
        (httpx.RemoteProtocolError("cut"), APIConnectionError, True),
    ],
)
def test_which_transport_errors_can_have_sent_the_request(
    exc: httpx.TransportError, cls: type[Any], sent: bool
) -> None:
    """A pool timeout happens before any byte is written: never counted as sent."""
    error = retry.connection_error(exc, method="POST", path="/v1/pay/gift/create")
    assert type(error) is cls
    assert error.request_sent is sent
    assert error.transient
