"""Concurrency primitives in async and sync pairs.

Generated sync code uses the sync twin of each async name here (``async_sleep`` becomes
``sleep``); ``scripts/unasync.py`` maps the names. Both halves are written by hand.
"""

from __future__ import annotations

import time

import anyio

__all__ = ["async_sleep", "sleep"]


async def async_sleep(seconds: float) -> None:
    """Sleep on whichever event loop runs us (asyncio or trio)."""
    await anyio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Block the calling thread; no event loop is involved."""
    time.sleep(seconds)
