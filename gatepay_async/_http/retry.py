"""When a request may be sent again, and how long to wait first.

Reads are idempotent: they retry on connection errors, timeouts, 429 and 5xx. A create
is not: it is resent only when it provably never reached the server (the connection was
never made) or was refused unprocessed (429).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

import httpx
from tenacity import RetryCallState

from gatepay_async._errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    RequestNotSentError,
    RequestNotSentTimeoutError,
    ServerError,
)

__all__ = [
    "RetryPolicy",
    "connection_error",
    "retry_wait",
    "should_retry",
    "stop_after_sends",
    "wait_after_attempt",
]

#: First back-off in seconds; doubles per attempt, with full jitter, up to MAX_BACKOFF.
INITIAL_BACKOFF = 0.25
MAX_BACKOFF = 8.0
#: A server's Retry-After is honoured up to this many seconds.
RETRY_AFTER_CAP = 20.0

# httpx errors that are bugs or configuration, not weather: never retried.
_NOT_TRANSIENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
# httpx errors raised before any byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, *_NOT_TRANSIENT)


class RetryPolicy(enum.Enum):
    READ = "read"
    CREATE = "create"


def connection_error(exc: httpx.TransportError, *, method: str, path: str) -> APIConnectionError:
    """Wrap an httpx transport error, recording whether the request can have been sent."""
    what = f"{method} {path}: {type(exc).__name__}: {exc}"
    cls: type[APIConnectionError]
    timed_out = isinstance(exc, httpx.TimeoutException)
    if isinstance(exc, _NOT_SENT):
        cls = RequestNotSentTimeoutError if timed_out else RequestNotSentError
    else:
        cls = APITimeoutError if timed_out else APIConnectionError
    return cls(what, method=method, path=path, transient=not isinstance(exc, _NOT_TRANSIENT))


def should_retry(policy: RetryPolicy, exc: BaseException) -> bool:
    if isinstance(exc, RateLimitError):
        return True
    if isinstance(exc, RequestNotSentError):
        return exc.transient
    if policy is RetryPolicy.CREATE:
        return False
    if isinstance(exc, APIConnectionError):
        return exc.transient
    return isinstance(exc, ServerError)


def backoff(attempt_number: int) -> float:
    """Full-jitter exponential back-off for the wait after attempt ``attempt_number``."""
    ceiling = min(MAX_BACKOFF, INITIAL_BACKOFF * (2 ** (attempt_number - 1)))
    return random.uniform(0, ceiling)


def retry_wait(exc: BaseException | None, *, attempt: int) -> float:
    """The wait after failed attempt ``attempt``: the server's Retry-After when given
    (capped), else jittered back-off."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, (int, float)):
        return min(float(retry_after), RETRY_AFTER_CAP)
    return backoff(attempt)


def wait_after_attempt(*, first_attempt: int) -> Callable[[RetryCallState], float]:
    """A tenacity wait for a loop whose first attempt is the call's ``first_attempt``-th."""

    def wait(retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        return retry_wait(exc, attempt=retry_state.attempt_number + first_attempt - 1)

    return wait


def stop_after_sends(
    max_sends: int, *, rate_limited_sends: int | None, first_attempt: int
) -> Callable[[RetryCallState], bool]:
    """A tenacity stop for a loop whose first attempt is the call's ``first_attempt``-th.

    A call is sent at most ``max_sends`` times; when the last answer was a 429 and
    ``rate_limited_sends`` is given (a bulk run), at most that many times instead.
    """

    def stop(retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        limit = max_sends
        if rate_limited_sends is not None and isinstance(exc, RateLimitError):
            limit = rate_limited_sends
        return retry_state.attempt_number + first_attempt - 1 >= limit

    return stop
