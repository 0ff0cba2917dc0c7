"""Sentry's events for every operation and failure of ``tests/frame_locals.py``, on both
facades, printed as one JSON line per case: ``{"events": [...], "case": ...}`` (the case last: a
reader that sees it has the whole line).

Run as a process of its own (``python -m tests.sentry_capture``) by
``tests/test_error_tools.py``: ``sentry_sdk.init`` patches httpx, logging and threading
for the whole process, for good, and the other tests must not run under those patches.
Sentry is set up first, as a merchant's service does at start-up, with its default
integrations and frame variables; a transport keeps the envelopes (no network).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tests.frame_locals import FAILURES, OPERATIONS

__all__ = ["case_id", "main"]


class KeepEnvelopes(Transport):
    """A Sentry transport that keeps what it is given instead of sending it."""

    envelopes: ClassVar[list[Envelope]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def case_id(facade: str, operation: str, failure: str) -> str:
    return f"{facade}-{operation}-{failure}"


def main() -> None:
    import gatepay_async._http.retry

    gatepay_async._http.retry.INITIAL_BACKOFF = 0.001  # as the tests' fast_retries fixture
    sentry_sdk.init(dsn="http://public@127.0.0.1:1/1", transport=KeepEnvelopes)
    from tests._async.test_frame_locals import raised_by as async_raised_by
    from tests._sync.test_frame_locals import raised_by as sync_raised_by

    for facade in ("async", "sync"):
        for operation in OPERATIONS:
            for failure in FAILURES:
                with tempfile.TemporaryDirectory() as folder:
                    ledger = Path(folder) / "ledger.db"
                    if facade == "sync":
                        error = sync_raised_by(operation, failure, ledger)
                    else:
                        error = asyncio.run(async_raised_by(operation, failure, ledger))
                KeepEnvelopes.envelopes.clear()
                sentry_sdk.capture_exception(error)
                sentry_sdk.flush()
                events: list[Any] = [
                    item.payload.json
                    for envelope in KeepEnvelopes.envelopes
                    for item in envelope.items
                    if item.type == "event"
                ]
                line = {"events": events, "case": case_id(facade, operation, failure)}
                print(json.dumps(line, default=str), flush=True)
    sentry_sdk.get_client().close()


if __name__ == "__main__":
    main()
