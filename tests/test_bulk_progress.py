"""bulk-create's progress: a whole one-line summary when stderr is not a terminal, an ETA
that ignores the rows replayed from the journal, rows never reached "not attempted"."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from gatepay_async._bulk_models import BulkResult, BulkState
from gatepay_async.cli._app import cli
from gatepay_async.cli._bulk_command import RunTally, _progress
from gatepay_async.sandbox import SandboxServer
from tests.test_cli import TEMPLATE_ID, env, server, write_input

__all__ = ["env", "server"]  # fixtures used here

SUMMARY = re.compile(
    r"^bulk-create done: 30 rows: 29 issued \(29 by this run\), 1 failed, 0 unknown,"
    r" 0 not attempted; \d+\.\d s$"
)


def test_piped_stderr_gets_one_whole_summary_line(
    env: dict[str, str], server: SandboxServer, tmp_path: Path
) -> None:
    rows = [(f"p{i}", f"piped-{i}", TEMPLATE_ID, "USDT", "1") for i in range(30)]
    rows[7] = ("p7", "piped-7", TEMPLATE_ID, "USDT", "zero")
    source = write_input(tmp_path / "in.csv", rows)
    result = CliRunner().invoke(
        cli, ["bulk-create", str(source), "--out", str(tmp_path / "o.csv")], prog_name="gatepay"
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert any(SUMMARY.match(line) for line in lines), lines  # whole, nothing cut
    assert not any("cards/s" in line for line in lines)  # no progress bar in a pipe


def _result(ref: str, *, replayed: bool) -> BulkResult:
    return BulkResult(ref, BulkState.ISSUED, from_journal=replayed)


def test_the_eta_counts_only_the_rows_sent_in_this_run() -> None:
    bar = _progress(show=False)
    task = bar.add_task("issuing", total=110, issued=0, failed=0, unknown=0, resumed=0, speed=0)
    tally = RunTally(bar, task, 110)
    for number in range(100):
        tally(_result(f"old-{number}", replayed=True))
    tally(_result("new-0", replayed=False))
    state = bar.tasks[0]
    # The bar (and so the ETA, completed / speed) covers the 10 rows left to send, of which
    # one is done: the 100 instant replays neither count as progress nor inflate the speed.
    assert (state.completed, state.total) == (1, 10)
    assert tally.resumed == 100
    assert tally.issued_now == 1
