"""The merchant's error tools, set up as their docs say, show no secret of the SDK's.

For every operation and failure of ``tests/frame_locals.py``, on both facades, the raised
error goes through the real tools, each with frame locals on:

- rich: ``Traceback.from_exception(..., show_locals=True)`` rendered on a Console;
- structlog: ``dict_tracebacks`` (``show_locals`` left at its default) and ``JSONRenderer``;
- Sentry: ``sentry_sdk.init`` with its default integrations and frame variables, sending
  to a transport that keeps the envelopes (no network);
- Django: the technical 500 page (``technical_500_response``), as ``DEBUG=True`` shows it.

Neither the signing secret, the api key nor the card key may be in any output.
"""

from __future__ import annotations

import asyncio
import html
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import rich.console
import rich.traceback
import sentry_sdk
import structlog
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from gatepay_async import GatePayError
from tests._async.test_frame_locals import raised_by as async_raised_by
from tests._sync.test_frame_locals import raised_by as sync_raised_by
from tests.frame_locals import FAILURES, KEY, OPERATIONS, leaked

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
                yield pytest.param(facade, operation, failure, id=f"{facade}-{operation}-{failure}")


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


class KeepEnvelopes(Transport):
    """A Sentry transport that keeps what it is given instead of sending it."""

    envelopes: ClassVar[list[Envelope]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def sentry_events(error: BaseException) -> str:
    KeepEnvelopes.envelopes = []
    sentry_sdk.init(dsn="http://public@127.0.0.1:1/1", transport=KeepEnvelopes)
    try:
        sentry_sdk.capture_exception(error)
        sentry_sdk.flush()
    finally:
        sentry_sdk.get_client().close()
    return "\n".join(envelope.serialize().decode("utf-8") for envelope in KeepEnvelopes.envelopes)


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
    facade: str, operation: str, failure: str, tmp_path: Path
) -> None:
    error = raised(facade, operation, failure, tmp_path)
    shown = {
        "rich": rich_traceback(error),
        "structlog": structlog_record(error),
        "sentry": sentry_events(error),
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
