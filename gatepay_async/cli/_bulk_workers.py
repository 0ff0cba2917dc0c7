"""``gatepay bulk-create --workers N``: N worker processes over one database journal.

The command starts N ``gatepay bulk-create`` children over the same input and the same
campaign; they split the rows by claims (see ``_storage.journal_db``). Each writes its own output
beside OUT (``OUT.worker-1`` ...). Nothing secret is put on a child's command line: the
credentials and the journal's URL (which may hold a password) reach it through its
environment. The children run in sessions of their own, so a Ctrl-C on the terminal
reaches them once, forwarded by this process (a second Ctrl-C, forwarded too, makes
them abandon their requests in flight).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from gatepay_async._cli_names import ENV_JOURNAL
from gatepay_async._cli_names import ENV_JOURNAL_OWNER as ENV_OWNER
from gatepay_async._cli_names import ENV_JOURNAL_STARTED as ENV_STARTED
from gatepay_async._http.config import ENV_BASE_URL, ENV_CLIENT_ID, ENV_SECRET_KEY
from gatepay_async.cli._csv_io import recover_from_output
from gatepay_async.cli._options import ClientOptions
from gatepay_async.cli._signals import STOP_SIGNALS

if TYPE_CHECKING:
    from gatepay_async._storage.journal_db import DatabaseJournal

__all__ = ["ENV_JOURNAL", "ENV_OWNER", "ENV_STARTED", "Workers", "after_workers", "worker_output"]


def worker_output(out_path: Path, number: int) -> Path:
    """Where worker ``number`` (from 1) writes its output."""
    return out_path.with_name(f"{out_path.name}.worker-{number}")


def after_workers(
    journal: DatabaseJournal, owners: Sequence[str], out_path: Path, killed: Sequence[str]
) -> tuple[int, int, int]:
    """Once every worker has ended: end their claims on rows not sent (no lease to wait
    for); take back the cards a worker whose journal failed wrote to its own output but
    not to the journal (they read as sent, outcome unknown), from an output of this
    campaign only (an ``OUT.worker-K`` another campaign left is refused); then record as
    unknown what the ``killed`` ones (ended by a signal: no chance to record anything)
    sent and never recorded (no longer in flight), so that ``--retry-unknown`` may send
    it once checked. A worker that exited by itself knew every outcome (a failed journal write
    leaves the cards on its terminal): its rows are left as they are. In this order: a
    card in an output is never made unknown, so never sent again. (released, recovered,
    made unknown); a JournalError stops here.
    """
    released = journal.release(owners)
    recovered = sum(
        recover_from_output(worker_output(out_path, number), journal)
        for number in range(1, len(owners) + 1)
    )
    settled = journal.settle_ended(killed)
    return released, recovered, settled


class Workers:
    """The children of one ``--workers N`` run: start them, forward signals, wait."""

    def __init__(
        self,
        count: int,
        input_csv: Path,
        out_path: Path,
        journal_url: str,
        owners: Sequence[str],
        arguments: Sequence[str],
        options: ClientOptions,
        started_ms: int | None = None,
    ) -> None:
        self.count = count
        self._input = input_csv
        self._out = out_path
        self._journal_url = journal_url
        self.owners = list(owners)
        self._arguments = list(arguments)
        self._options = options
        self._started_ms = started_ms
        self.processes: list[subprocess.Popen[bytes]] = []
        self.signals = 0

    def _environment(self, number: int) -> dict[str, str]:
        env = dict(os.environ)
        env[ENV_JOURNAL] = self._journal_url
        env[ENV_OWNER] = self.owners[number]
        if self._started_ms is not None:
            env[ENV_STARTED] = str(self._started_ms)
        options = self._options
        for name, value in (
            (ENV_CLIENT_ID, options.client_id),
            (ENV_SECRET_KEY, options.secret_key),
            (ENV_BASE_URL, options.base_url),
        ):
            if value is not None:
                env[name] = value
        return env

    def _command(self, number: int) -> list[str]:
        options = self._options
        command = [
            sys.executable,
            "-m",
            "gatepay_async.cli",
            "bulk-create",
            str(self._input),
            "--out",
            str(worker_output(self._out, number + 1)),
            *self._arguments,
        ]
        if options.on_behalf_of is not None:
            command += ["--on-behalf-of", options.on_behalf_of]
        if options.timeout is not None:
            command += ["--timeout", repr(options.timeout)]
        if options.verbose:
            command.append("--verbose")
        return command

    def run(self) -> list[int]:
        """Start the children, forward SIGINT/SIGTERM to them, wait; their exit codes."""
        previous = {stop: signal.getsignal(stop) for stop in STOP_SIGNALS}

        def forward(signum: int, frame: FrameType | None) -> None:
            self.signals += 1
            for process in self.processes:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):  # it just ended
                        process.send_signal(signum)

        for stop in STOP_SIGNALS:
            signal.signal(stop, forward)
        try:
            for number in range(self.count):
                if self.signals:
                    break  # stopped while starting: start no more
                self.processes.append(
                    subprocess.Popen(  # noqa: S603 - this interpreter, our own module
                        self._command(number),
                        env=self._environment(number),
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        start_new_session=True,  # a terminal's Ctrl-C reaches them through us
                    )
                )
            return [process.wait() for process in self.processes]
        finally:
            for stop, handler in previous.items():
                signal.signal(stop, handler)
