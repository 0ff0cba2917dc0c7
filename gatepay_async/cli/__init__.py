# unasync: async-only
"""The ``gatepay`` command: templates, create, query, balance, wait, bulk-create, sandbox, demo.

Needs the ``cli`` extra (click and rich): ``pip install 'gatepay[cli]'``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gatepay_async._cli_names import EXIT_USAGE

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``gatepay`` command line (exits the process)."""
    try:
        from gatepay_async.cli._app import cli
    except ImportError as exc:  # click or rich missing
        missing = exc.name or "a dependency"
        sys.stderr.write(
            f"gatepay: the command line needs the 'cli' extra ({missing} is not installed):\n"
            "    pip install 'gatepay[cli]'\n"
        )
        sys.exit(EXIT_USAGE)
    cli.main(args=list(argv) if argv is not None else None, prog_name="gatepay")
