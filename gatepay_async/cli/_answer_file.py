"""Where ``gatepay create`` keeps GatePay's raw answer when the outcome is unknown.

An answer the SDK could not rely on (a 5xx carrying a card, an odd spelling) may still
hold the new card's number and key, and nothing else has them. The key must not reach the
terminal (process output is logged and scrolled back), so the answer goes to a new file
that only its owner can read, and the command says where it is.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from gatepay_async._errors import RawAnswer

__all__ = ["ANSWER_FILE_MODE", "save_answer"]

ANSWER_FILE_MODE = 0o600


def _create(directory: Path, stamp: str) -> tuple[int, Path]:
    """A new file, created exclusively (never an existing file or a planted link)."""
    for attempt in range(100):
        suffix = "" if attempt == 0 else f"-{attempt}"
        path = directory / f"gatepay-answer-{stamp}{suffix}.txt"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            return os.open(path, flags, ANSWER_FILE_MODE), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free answer file name in {directory}")


def save_answer(answer: RawAnswer, directory: Path | None = None) -> Path:
    """Write ``answer`` (status line, then the body's bytes as received) to a new 0600
    file in ``directory`` (the current one by default), made durable; its path."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    fd, path = _create(directory or Path("."), stamp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(f"HTTP {answer.status_code}\n\n".encode())
            handle.write(answer.body)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path.resolve()
