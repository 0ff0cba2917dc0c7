"""The merchant's error tools, set up as their docs say, show no secret of the SDK's.

For every operation and failure of ``tests/frame_locals.py``, on both facades, the raised
error goes through the real tools, each with frame locals on:

- rich: ``Traceback.from_exception(..., show_locals=True)`` rendered on a Console;
- structlog: ``dict_tracebacks`` (``show_locals`` left at its default) and ``JSONRenderer``;
- Sentry: ``sentry_sdk.init`` with its default integrations and frame variables, sending
  to a transport that keeps the envelopes (no network), in a process of its own
  (``tests/sentry_capture.py``);
- Django: the technical 500 page (``technical_500_response``), as ``DEBUG=True`` shows it.

Neither the signing secret, the api key nor the card key may be in any output.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rich.console
import rich.traceback
import structlog

from gatepay_async import GatePayError
from tests._async.test_frame_locals import raised_by as async_raised_by
from tests._sync.test_frame_locals import raised_by as sync_raised_by
from tests.frame_locals import FAILURES, KEY, OPERATIONS, leaked
from tests.sentry_capture import case_id
from tests.waiting import ChildOutput

pytestmark = pytest.mark.usefixtures("fast_retries")

#: Operations with their key in a frame: the key's masked form shows there instead.
WITH_A_KEY = ("query_key", "balance_key", "wait_for_status_key")


def raised(facade: str, operation: str, failure: str, tmp_path: Path) -> GatePayError:
    ledger = tmp_path / "ledger.db"
    if facade == "sync":
        return sync_raised_by(operation, failure, ledger)
    return asyncio.run(async_raised_by(operation, failure, ledger))


def cases() -> Iterator[Any]:
    for facade in ("async", "sync"):
        for operation in OPERATIONS:
            for failure in FAILURES:
                yield pytest.param(
                    facade, operation, failure, id=case_id(facade, operation, failure)
                )


def rich_traceback(error: BaseException) -> str:
    console = rich.console.Console(file=io.StringIO(), width=200, color_system=None)
    console.print(
        rich.traceback.Traceback.from_exception(
            type(error), error, error.__traceback__, show_locals=True
        )
    )
    output = console.file
    assert isinstance(output, io.StringIO)
    return output.getvalue()


def structlog_record(error: BaseException) -> str:
    output = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=output),
        processors=[structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()],
    )
    logger.error("gift card operation failed", exc_info=error)
    return output.getvalue()


class SentryEvents:
    """Sentry's events per case, from a process of their own (``tests/sentry_capture.py``:
    Sentry's init patches the process for good), read as it prints them: the process runs
    alongside the cases, each waits for its own line."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.sentry_capture"],
            cwd=Path(__file__).parent.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stdout = ChildOutput(self.process.stdout)
        self.stderr = ChildOutput(self.process.stderr)

    def of(self, case: str) -> list[dict[str, Any]]:
        ending = f'"case": {json.dumps(case)}}}'  # the case is last: the line is whole
        try:
            self.stdout.wait_for(ending + "\n", timeout=600)
        except AssertionError:
            pytest.fail(f"no line for {case}: {self.stderr.text()[-3000:]}")
        line = next(line for line in self.stdout.seen().splitlines() if line.endswith(ending))
        events: list[dict[str, Any]] = json.loads(line)["events"]
        return events

    def close(self) -> None:
        try:
            assert self.process.wait(timeout=600) == 0, self.stderr.text()[-3000:]
        finally:
            self.process.kill()
            self.process.wait()
            self.stdout.text()
            self.stderr.text()


@pytest.fixture(scope="module")
def sentry_events() -> Iterator[SentryEvents]:
    events = SentryEvents()
    try:
        yield events
    finally:
        events.close()


def sentry_text(events: list[dict[str, Any]]) -> str:
    """The events as text, without their breadcrumbs: the URL that ``balance(key=...)``
    sends is in Sentry's HTTP breadcrumbs, a separate promise (the frames are this one)."""
    assert events, "Sentry sent no event"
    kept = [
        {name: value for name, value in event.items() if name != "breadcrumbs"} for event in events
    ]
    return json.dumps(kept, ensure_ascii=False)


#: The URL configuration of the Django settings below: no view (the page is rendered
#: for an error raised in the test).
urlpatterns: list[Any] = []


def django_error_page(error: BaseException) -> str:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=True,
            SECRET_KEY="django-settings-of-this-test",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
        )
        import django

        django.setup()
    from django.test import RequestFactory
    from django.views.debug import technical_500_response

    request = RequestFactory().get("/cards")
    response = technical_500_response(request, type(error), error, error.__traceback__)
    return html.unescape(response.content.decode("utf-8"))


@pytest.mark.parametrize(("facade", "operation", "failure"), list(cases()))
def test_error_tools_show_no_secret(
    facade: str,
    operation: str,
    failure: str,
    tmp_path: Path,
    sentry_events: SentryEvents,
) -> None:
    error = raised(facade, operation, failure, tmp_path)
    shown = {
        "rich": rich_traceback(error),
        "structlog": structlog_record(error),
        "sentry": sentry_text(sentry_events.of(case_id(facade, operation, failure))),
        "django": django_error_page(error),
    }
    for tool, text in shown.items():
        assert not leaked(text), f"{tool} shows a secret: {leaked(text)[:3]}"
    # Each tool did render the SDK's frames and their locals.
    assert "gatepay_" in shown["rich"]
    assert "locals" in shown["rich"].lower()
    assert '"locals"' in shown["structlog"]
    assert '"vars"' in shown["sentry"]
    assert "gatepay" in shown["sentry"]
    assert "Local vars" in shown["django"]
    if operation in WITH_A_KEY:  # the key's frames were shown, masked
        for tool, text in shown.items():
            assert KEY[:4] in text, tool
