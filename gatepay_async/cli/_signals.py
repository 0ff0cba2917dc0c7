"""SIGINT and SIGTERM, the same way in every command.

Docker, systemd, Kubernetes and ``timeout`` stop a process with SIGTERM, a person with
Ctrl-C: a command treats both alike. Reads simply stop (exit 130). Commands that send a
create (``create``, ``bulk-create``) must not abandon a request in flight on the first
signal, or a card paid for may be lost with its key: they note the signal, let the
request finish, and only a second signal abandons it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import TypeVar

import anyio
import anyio.abc

__all__ = [
    "STOP_SIGNALS",
    "SignalCounter",
    "defer_signals",
    "run_until_interrupted",
    "signals_restored",
    "sigterm_as_interrupt",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

T = TypeVar("T")


def run_until_interrupted(main: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(main)``, where Ctrl-C always ends as KeyboardInterrupt (exit 130).

    On Ctrl-C anyio's runner cancels the main task, then tells that cancellation from
    any other with ``Task.uncancel``, which Python 3.10 lacks: there the
    ``CancelledError`` escaped instead, a traceback and exit 1. Nothing else cancels
    the main task from outside, so on 3.10 that error is the interrupt."""
    try:
        return anyio.run(main)
    except asyncio.CancelledError:
        if sys.version_info >= (3, 11):  # pragma: no cover - anyio raises the interrupt
            raise
        raise KeyboardInterrupt from None  # pragma: no cover - Python 3.10 only


class SignalCounter:
    """Counts stop signals; ``on_signal`` is called (in the event loop) with each one."""

    def __init__(self) -> None:
        self.signals = 0

    def on_signal(self, signum: int) -> None:
        """What the command does on a signal received while its event loop runs."""

    def __call__(self, signum: int) -> None:
        self.signals += 1
        self.on_signal(signum)

    async def watch(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Receive the stop signals in the event loop until cancelled."""
        try:
            receiver = anyio.open_signal_receiver(*STOP_SIGNALS)
            received = receiver.__enter__()
        except NotImplementedError:  # Windows: Ctrl-C stays a KeyboardInterrupt
            task_status.started()
            return
        try:
            task_status.started()
            async for signum in received:
                self(signum)
        finally:
            receiver.__exit__(None, None, None)
            # The event loop has just put SIGTERM back to its default (die at once);
            # until the command is done, a signal is noted instead (the output of a
            # create or a bulk run must be printed or written whole).
            defer_signals(self)


def defer_signals(counter: SignalCounter) -> None:
    """Outside the event loop: a signal is counted, not obeyed (the command checks)."""

    def note(signum: int, frame: FrameType | None) -> None:
        counter.signals += 1

    for number in STOP_SIGNALS:
        signal.signal(number, note)


@contextlib.contextmanager
def signals_restored() -> Iterator[None]:
    """Put back, on leaving, the handlers the stop signals had on entering."""
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {
        number: signal.getsignal(number) for number in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does: the command ends with 130.

    Only while the handler is Python's default (a command's own handler wins).
    """
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
