"""``bulk-create``'s credential check: one signed read before any create is sent.

Wrong credentials are refused there (AuthenticationError, exit 4) rather than by each
create. A check that got no readable answer stops the run too, before its first create:
an answer that cannot be read (a proxy's HTML page, a cut or garbled body, none in time)
says that what answers at the base URL is not a working GatePay, and a create sent there
would most likely end unknown (a card that may exist, never resent, for a person to
check). Nothing is lost by stopping: no create was sent, and the same command runs again.
A GatePay error the client could read (a 503 or a 429 in GatePay's envelope) is left to
the run, which meets it row by row as it always does: GatePay answered, and a read that
is busy says nothing about the creates.
"""

from __future__ import annotations

from collections.abc import Mapping

import click

from gatepay_async._cli_names import EXIT_REFUSED, EXIT_USAGE
from gatepay_async._client import AsyncGatePay
from gatepay_async._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    GatePayError,
    RequestNotSentError,
    ResponseValidationError,
)

__all__ = ["CredentialCheckNoAnswer", "CredentialCheckUnanswered", "check_credentials"]


class CredentialCheckUnanswered(click.ClickException):
    """The credential check got an answer it cannot read: no create was sent. Exit 4,
    as an answer that cannot be read ends every command (``_exit``)."""

    exit_code = EXIT_REFUSED

    def __init__(self, cause: GatePayError) -> None:
        super().__init__(
            "the credential check (a signed read of the templates, before any create) got"
            f" no readable answer ({type(cause).__name__}: {cause}); no create was sent."
            " Check that --base-url (or GATEPAY_BASE_URL) is GatePay's and that nothing in"
            " between answers in its place, then run again: the journal is as it was."
        )


class CredentialCheckNoAnswer(CredentialCheckUnanswered):
    """The credential check got no answer at all (cut, or none in time): exit 1, as
    GatePay not reached ends every command (``_exit``)."""

    exit_code = EXIT_USAGE


async def check_credentials(gp: AsyncGatePay) -> None:
    """A signed read. Raises AuthenticationError if GatePay refuses the credentials, and
    CredentialCheckUnanswered if it got no readable answer; any other failure is left to
    the run (returns)."""
    try:
        await gp.gift_cards.list_templates()
    except AuthenticationError:
        raise
    except GatePayError as exc:
        if _no_readable_answer(exc):
            if isinstance(exc, APIConnectionError):
                raise CredentialCheckNoAnswer(exc) from None
            raise CredentialCheckUnanswered(exc) from None


def _no_readable_answer(exc: GatePayError) -> bool:
    if isinstance(exc, ResponseValidationError):
        return True
    if isinstance(exc, RequestNotSentError):
        return False  # never reached: the run's first create meets it and stops, sending nothing
    if isinstance(exc, APIConnectionError):
        return True  # reached, and the answer was cut or never came
    if isinstance(exc, APIError):
        return not isinstance(exc.body, Mapping)  # an error page, not GatePay's envelope
    return False
