"""Names the two command lines share: ``gatepay`` (``gatepay_async.cli``) and the
sandbox's own (``gatepay sandbox``, also ``python -m gatepay_async.sandbox``).

Exit codes (README, "Exit codes": every command uses the same table; a script can branch
on them), the sandbox's environment variables and its default address. The sandbox's
command needs only the ``sandbox`` extra and ``gatepay sandbox-admin`` only the ``cli``
one, so neither package may import the other: this module sits below both and imports
nothing, so ``gatepay``'s ``main`` can use it before it knows click is installed.
"""

from __future__ import annotations

__all__ = [
    "ENV_JOURNAL",
    "ENV_JOURNAL_OWNER",
    "ENV_JOURNAL_STARTED",
    "ENV_LEDGER",
    "ENV_SANDBOX_ADMIN_TOKEN",
    "ENV_SANDBOX_CLIENT_ID",
    "ENV_SANDBOX_SECRET_KEY",
    "ENV_SANDBOX_URL",
    "ENV_TRANSPORT",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "SANDBOX_HOST",
    "SANDBOX_PORT",
    "SANDBOX_URL",
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

# The client's own variables (GATEPAY_CLIENT_ID ...) are in gatepay_async._http.config.
#: ``gatepay create``'s ledger (``--ledger``): a URL may hold a password, which a variable
#: keeps out of the process list.
ENV_LEDGER = "GATEPAY_LEDGER"
#: ``gatepay bulk-create``'s journal when ``--journal`` is not given (how ``--workers``
#: hands its children a database URL without it showing in the process list).
ENV_JOURNAL = "GATEPAY_JOURNAL"
#: A worker's claim token, set by ``--workers`` for each child: the command releases the
#: claims of a child that died at once, without waiting for their lease.
ENV_JOURNAL_OWNER = "GATEPAY_JOURNAL_OWNER"
#: The start of a ``--workers`` run (database clock, ms), set for each child: a row a
#: sibling failed or left unknown after it is this run's, never sent again by a child
#: that happened to start later (``--retry-unknown`` included).
ENV_JOURNAL_STARTED = "GATEPAY_JOURNAL_STARTED"
#: ``gatepay bulk-create``'s transport when ``--transport`` is not given (``httpx`` or
#: ``aiohttp``); ``--workers`` children inherit it.
ENV_TRANSPORT = "GATEPAY_TRANSPORT"
ENV_SANDBOX_CLIENT_ID = "GATEPAY_SANDBOX_CLIENT_ID"
ENV_SANDBOX_SECRET_KEY = "GATEPAY_SANDBOX_SECRET_KEY"  # noqa: S105 - the variable's name
ENV_SANDBOX_ADMIN_TOKEN = "GATEPAY_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - the variable's name
#: Where ``gatepay sandbox-admin`` finds a running sandbox.
ENV_SANDBOX_URL = "GATEPAY_SANDBOX_URL"

SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORT = 8765
SANDBOX_URL = f"http://{SANDBOX_HOST}:{SANDBOX_PORT}"
