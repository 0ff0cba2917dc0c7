"""``gatepay bulk-create``: issue the cards of a CSV file, exactly once, resumably."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import anyio
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gatepay_async._aiohttp import fastest_http_client
from gatepay_async._bulk_models import BulkResult, BulkState
from gatepay_async._journal import Journal, JournalError
from gatepay_async.cli._app import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ClientOptions,
    client_options,
)
from gatepay_async.cli._csv_io import InputError, read_specs, scan_input, write_output
from gatepay_async.cli._output import stderr_console, stdout_console

__all__ = ["COMMANDS", "bulk_create_command"]

UNKNOWN_ADVICE = (
    "Rows marked 'unknown' were sent but their answer was lost: a card may exist for each."
    " Look them up in your GatePay merchant records (by title and amount) before doing"
    " anything. If no card exists, run again with --retry-unknown to send them again."
)


class RunTally:
    """Counts for the progress bar and the summary (updated from on_progress)."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self.progress = progress
        self.task = task
        self.states: Counter[BulkState] = Counter()
        self.resumed = 0
        self.issued_now = 0
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def cards_per_second(self) -> float:
        return self.issued_now / self.elapsed

    def __call__(self, result: BulkResult) -> None:
        self.states[result.state] += 1
        if result.from_journal:
            self.resumed += 1
        elif result.state is BulkState.ISSUED:
            self.issued_now += 1
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task,
                advance=1,
                issued=self.states[BulkState.ISSUED],
                failed=self.states[BulkState.FAILED],
                unknown=self.states[BulkState.UNKNOWN],
                speed=self.cards_per_second,
            )


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]{task.fields[issued]} issued[/] [red]{task.fields[failed]} failed[/]"
            " [yellow]{task.fields[unknown]} unknown[/]"
        ),
        TextColumn("{task.fields[speed]:.0f} cards/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr_console(),
        disable=not show,
        transient=False,
    )


@click.command("bulk-create")
@click.argument("input_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="output CSV: one row per input row (mode 0600: it holds card keys)",
)
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the run's journal (mode 0600); reuse it to resume [default: OUT.journal]",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="requests in flight at once",
)
@click.option("--retry-unknown", is_flag=True, help="send rows whose outcome is unknown again")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="at most this many requests per second",
)
@click.option("--progress/--no-progress", default=True, help="show the progress bar")
@client_options
def bulk_create_command(
    input_csv: Path,
    out_path: Path,
    journal_path: Path | None,
    concurrency: int,
    retry_unknown: bool,
    rate: float | None,
    progress: bool,
    options: ClientOptions,
) -> int:
    """Issue one card per row of INPUT_CSV (columns ref,title,template_id,currency,amount).

    Each row's outcome goes to a journal before and after its request, so the command
    can be killed and run again with the same --journal: issued rows are never sent
    twice, unknown ones are not sent again unless --retry-unknown. OUT is rewritten
    from the journal on every run (columns ref,state,card_number,key,status,amount,
    currency,error). Exit status: 0 every row issued, 2 some row failed or unknown,
    1 a usage or configuration error.
    """
    journal_path = journal_path or out_path.with_name(out_path.name + ".journal")
    try:
        total = scan_input(input_csv)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    # anyio.run below runs asyncio: the fastest safe transport there is aiohttp's.
    http_client, transport = fastest_http_client()
    client = options.client(http_client)
    try:
        journal = Journal.open(journal_path)
    except JournalError as exc:
        raise click.UsageError(str(exc)) from None
    out = stdout_console()
    interrupted = False
    with journal:
        with _progress(progress) as bar:
            task = bar.add_task("issuing", total=total, issued=0, failed=0, unknown=0, speed=0.0)
            tally = RunTally(bar, task)

            async def run() -> None:
                async with client as gp, http_client or nullcontext():
                    results = gp.gift_cards.create_many(
                        read_specs(input_csv),
                        concurrency=concurrency,
                        journal=journal,
                        retry_unknown=retry_unknown,
                        rate=rate,
                        on_progress=tally,
                    )
                    async for _ in results:
                        pass

            try:
                anyio.run(run)
            except KeyboardInterrupt:
                interrupted = True
            except InputError as exc:
                raise click.UsageError(str(exc)) from None
        counts = write_output(input_csv, out_path, journal)
    _summary(out, tally, counts, out_path, journal_path, interrupted, transport)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if counts[BulkState.ISSUED.value] == sum(counts.values()) else EXIT_INCOMPLETE


def _summary(
    console: Console,
    tally: RunTally,
    counts: Counter[str],
    out_path: Path,
    journal_path: Path,
    interrupted: bool,
    transport: str = "httpx",
) -> None:
    table = Table(title="bulk-create " + ("interrupted" if interrupted else "summary"))
    table.add_column("rows", style="bold")
    table.add_column("count", justify="right")
    table.add_row("issued", str(counts[BulkState.ISSUED.value]))
    table.add_row("  of which issued by this run", str(tally.issued_now))
    table.add_row("failed", str(counts[BulkState.FAILED.value]))
    table.add_row("unknown", str(counts[BulkState.UNKNOWN.value]))
    table.add_row("total", str(sum(counts.values())))
    console.print(table)
    console.print(
        f"{tally.issued_now} cards issued in {tally.elapsed:.1f} s"
        f" ({tally.cards_per_second:.0f} cards/s, transport: {transport})"
    )
    console.print(f"output:  {out_path}")
    console.print(f"journal: {journal_path}")
    if counts[BulkState.FAILED.value]:
        console.print(
            "Rows marked 'failed' were not issued (see their error column); fix them and run"
            " again with the same journal: only those rows are sent."
        )
    if counts[BulkState.UNKNOWN.value]:
        console.print(UNKNOWN_ADVICE)


COMMANDS = [bulk_create_command]
