"""Which exit code an error ends a command with (the codes: ``gatepay_async._cli_names``)."""

from __future__ import annotations

import click

from gatepay_async._cli_names import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    EXIT_USAGE,
)
from gatepay_async._errors import (
    APIError,
    GatePayError,
    OutcomeUnknownError,
    ResponseValidationError,
    WaitTimeoutError,
)

__all__ = ["exit_code_for"]


def exit_code_for(exc: BaseException) -> int:
    """The exit code a command ends with when ``exc`` stops it."""
    if isinstance(exc, OutcomeUnknownError):
        return EXIT_UNKNOWN
    if isinstance(exc, WaitTimeoutError):
        return EXIT_INCOMPLETE
    if isinstance(exc, (APIError, ResponseValidationError)):
        return EXIT_REFUSED
    if isinstance(exc, (KeyboardInterrupt, click.Abort)):
        return EXIT_INTERRUPTED
    if isinstance(exc, click.ClickException) and exc.exit_code not in (1, 2):
        return exc.exit_code  # a command that chose its own code
    # ValidationError, APIConnectionError (nothing done), click usage errors.
    if isinstance(exc, (GatePayError, click.ClickException)):
        return EXIT_USAGE
    return EXIT_USAGE
