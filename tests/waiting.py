"""Waiting on something observable instead of sleeping for "long enough".

A test that sleeps to let another process reach a state passes on an idle machine and
fails on a loaded one (or waits longer than it needs). These helpers wait for the state
itself: a condition polled until a deadline, a text on a child's output.
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["ChildOutput", "create_in_flight", "wait_until"]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def create_in_flight(stats: dict[str, Any]) -> bool:
    """Whether a sandbox (its ``/_sandbox/stats``) holds a create it has not answered.

    It counts a create when it arrives, and stores the card just before it answers; a
    sandbox with a latency answers each create that much later.
    """
    return int(stats["attempts"].get("create", 0)) > int(stats["cards"])


class ChildOutput:
    """A child process's stdout or stderr, read on a thread as it comes.

    ``wait_for(text)`` returns once the text has been written; ``text()`` is all of it,
    once the child has closed the stream (it has ended).
    """

    def __init__(self, stream: IO[Any] | None) -> None:
        assert stream is not None, "the stream must be a pipe"
        self._fd = stream.fileno()
        self._stream = stream
        self._chunks: list[str] = []
        self._changed = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            data = os.read(self._fd, 65536)
            text = decoder.decode(data, final=not data)
            with self._changed:
                self._chunks.append(text)
                self._closed = not data
                self._changed.notify_all()
            if not data:
                return

    def wait_for(self, text: str, *, timeout: float) -> None:
        """Return once ``text`` is in the output; fail the test after ``timeout`` s."""
        with self._changed:
            self._changed.wait_for(lambda: text in "".join(self._chunks) or self._closed, timeout)
            written = "".join(self._chunks)
        assert text in written, f"{text!r} was never written; got {written!r}"

    def seen(self) -> str:
        """The output so far."""
        with self._changed:
            return "".join(self._chunks)

    def text(self, *, timeout: float = 60) -> str:
        """All the output, once the stream is closed (the child has ended)."""
        self._reader.join(timeout)
        assert not self._reader.is_alive(), "the child never closed its output"
        self._stream.close()
        return "".join(self._chunks)
