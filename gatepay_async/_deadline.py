"""One bound for a whole attempt, from connect to the last byte of the answer.

httpx's timeouts are per phase (connect, each read, each write), so a server that drips
one byte at a time holds a call for ever. The async client cancels the attempt at its
deadline (anyio, on asyncio and trio alike); the sync client, which has no cancellation,
checks the deadline after every chunk it reads, so a dripped answer ends within one
read of it. Both raise the builtin TimeoutError. Both halves are written by hand.
"""

from __future__ import annotations

import time
from types import TracebackType

import anyio

__all__ = ["AsyncAttemptDeadline", "AttemptDeadline"]

#: Added to the timeout: a connect that times out on its own (proof that nothing was
#: sent) is then reported as such, rather than as an attempt cut at its deadline.
GRACE = 0.05


class AsyncAttemptDeadline:
    """``with AsyncAttemptDeadline(seconds):`` cancels its body after ``seconds``.

    A cancel scope with a deadline, as ``anyio.fail_after`` makes, without its two
    generator-based context managers: this runs once per attempt, on every card.
    """

    def __init__(self, seconds: float | None) -> None:
        self._seconds = None if seconds is None else seconds + GRACE
        self._scope: anyio.CancelScope | None = None

    def __enter__(self) -> AsyncAttemptDeadline:
        if self._seconds is not None:
            self._scope = anyio.CancelScope(deadline=anyio.current_time() + self._seconds)
            self._scope.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        scope = self._scope
        if scope is None:
            return None
        swallowed = scope.__exit__(exc_type, exc, tb)
        # Cancelled by its own deadline (not by an outer scope): the attempt timed out.
        if scope.cancelled_caught and anyio.current_time() >= scope.deadline:
            raise TimeoutError("the attempt passed its deadline")
        return swallowed

    def check(self) -> None:
        """Nothing to do: the cancel scope ends the attempt on time."""


class AttemptDeadline:
    """The sync twin: ``check()`` raises TimeoutError once ``seconds`` have passed."""

    def __init__(self, seconds: float | None) -> None:
        self._deadline = None if seconds is None else time.monotonic() + seconds + GRACE

    def __enter__(self) -> AttemptDeadline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def check(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise TimeoutError("the attempt passed its deadline")
