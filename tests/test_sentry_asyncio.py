"""A create error the caller catches is not reported to Sentry as a crash.

Sentry's AsyncioIntegration reports every exception that leaves an asyncio task as an
unhandled error. A create with an idempotency key runs in a task of its own on asyncio
(so that the event loop's cancellation waits for its ledger records); its errors left
that task, and each ``OutcomeUnknownError``, refusal or bad amount the caller handled
was also an unhandled-error event. The errors now leave the task as its result and are
raised in the caller's task. Sentry runs in a process of its own
(``tests/sentry_asyncio_run.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sentry_reports_no_error_the_caller_handled() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.sentry_asyncio_run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # The caller got each error as itself: lost, then in doubt in the ledger, then bad.
    assert seen["caught"] == ["OutcomeUnknownError", "OutcomeUnknownError", "ValidationError"]
    # Only the merchant's own failing task reached Sentry (the integration was on).
    assert seen["reported"] == ["RuntimeError"]
    assert seen["leaked"] == []
