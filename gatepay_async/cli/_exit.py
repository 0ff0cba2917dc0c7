"""The command line's exit codes, and which one an error ends a command with.

Every command uses the same table (README, "Exit codes"); a script can branch on them.
"""

from __future__ import annotations

import click

from gatepay_async._errors import (
    APIError,
    GatePayError,
    OutcomeUnknownError,
    ResponseValidationError,
    WaitTimeoutError,
)

__all__ = [
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "exit_code_for",
]

EXIT_OK = 0
#: A usage or configuration error (bad flag, missing credentials, unreadable input), or
#: GatePay could not be reached at all: nothing was done.
EXIT_USAGE = 1
#: Not finished: bulk-create rows failed, unknown, changed or no longer in the input;
#: `wait` did not see the status in time.
EXIT_INCOMPLETE = 2
#: create: the answer was lost (or unusable, or abandoned by a second signal) after the
#: request may have reached GatePay; a card may exist.
EXIT_UNKNOWN = 3
#: GatePay answered and did not do it: a refusal (wrong credentials, invalid request, card
#: not found) or, for a read, an error answer (5xx, an answer that cannot be read).
EXIT_REFUSED = 4
#: Stopped by SIGINT or SIGTERM.
EXIT_INTERRUPTED = 130


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
