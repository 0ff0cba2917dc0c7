"""``gatepay bulk-create``: issue the cards of a CSV file, exactly once, resumably.

Stopping. SIGINT (Ctrl-C) and SIGTERM (docker, systemd, Kubernetes, ``timeout``) are
handled alike: the first takes no new rows, lets the requests in flight finish and be
recorded, writes the output and exits 130; a second abandons the requests in flight
(recorded as unknown, "interrupted in this run"). A journal that cannot be written
stops the run before the next create; the keys of cards issued but not journaled go to
the output and to stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import click
import httpx
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
from rich.text import Text

from gatepay_async._bulk_models import BulkResult, BulkState
from gatepay_async._cli_names import (
    ENV_TRANSPORT,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from gatepay_async._client import AsyncGatePay
from gatepay_async._errors import (
    APIError,
    RequestNotSentError,
    ValidationError,
)
from gatepay_async._http.aiohttp_transport import DefaultAioHttpClient, aiohttp_available
from gatepay_async._storage.database import DatabaseURL, is_database_url, parse_database_url
from gatepay_async._storage.journal import Journal, JournalError
from gatepay_async._storage.journal_store import DEFAULT_LEASE, JournalStore
from gatepay_async.cli._bulk_workers import (
    ENV_JOURNAL,
    ENV_OWNER,
    ENV_STARTED,
    Workers,
    after_workers,
)
from gatepay_async.cli._credential_check import check_credentials
from gatepay_async.cli._csv_io import (
    NOT_ATTEMPTED_STATE,
    InputError,
    check_paths,
    read_specs,
    recover_from_output,
    scan_input,
    write_output,
)
from gatepay_async.cli._options import ClientOptions, client_options
from gatepay_async.cli._output import print_json, stderr_console, stdout_console
from gatepay_async.cli._signals import (
    SignalCounter,
    defer_signals,
    run_until_interrupted,
    signals_restored,
)
from gatepay_async.resources.bulk import AsyncBulkRun

if TYPE_CHECKING:
    from gatepay_async._storage.journal_db import DatabaseJournal

__all__ = ["COMMANDS", "bulk_create_command"]

ISSUED = BulkState.ISSUED.value
UNKNOWN_ADVICE = (
    "Rows marked 'unknown' were sent but their answer was lost: a card may exist for each."
    " Look them up in your GatePay merchant records (by title and amount) before doing"
    " anything. If no card exists, run again with --retry-unknown to send them again."
)
NOT_ATTEMPTED_ADVICE = (
    "Rows marked 'not_attempted' were never sent (the run stopped first): run the same"
    " command again to send them."
)


class RunTally:
    """Counts for the progress bar and the summary (updated from on_progress).

    Rows answered from the journal (replayed) are not counted as progress: they take no
    time, and counting them would make the ETA promise the rest at that speed.
    """

    def __init__(self, progress: Progress | None, task: TaskID | None, total: int) -> None:
        self.progress = progress
        self.task = task
        self.total = total
        self.states: Counter[BulkState] = Counter()
        self.resumed = 0
        self.issued_now = 0
        #: Creates of this run that reached GatePay (or may have: unknown).
        self.sent = 0
        #: A create of this run found GatePay unreachable (the run then stops early).
        self.unreachable = False
        #: Rows another worker of a shared journal held (no result here).
        self.elsewhere = 0
        self.started = time.monotonic()

    @property
    def nothing_reached_gatepay(self) -> bool:
        """The run stopped because GatePay could not be reached, before any create got
        there: nothing was done (exit 1, as for any command that cannot reach GatePay)."""
        return self.unreachable and not self.sent

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
        if not result.from_journal:
            if result.state is not BulkState.FAILED or isinstance(result.exception, APIError):
                self.sent += 1
            elif isinstance(result.exception, RequestNotSentError):
                self.unreachable = True
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task,
                total=self.total - self.resumed,
                advance=0 if result.from_journal else 1,
                issued=self.states[BulkState.ISSUED],
                failed=self.states[BulkState.FAILED],
                unknown=self.states[BulkState.UNKNOWN],
                resumed=self.resumed,
                speed=self.cards_per_second,
            )


def _progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "[green]{task.fields[issued]} issued[/] [red]{task.fields[failed]} failed[/]"
            " [yellow]{task.fields[unknown]} unknown[/] ({task.fields[resumed]} from the"
            " journal)"
        ),
        TextColumn("{task.fields[speed]:.0f} cards/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr_console(),
        disable=not show,
        transient=False,
    )


def _say(bar: Progress, message: str) -> None:
    """One line on stderr, literally, above the progress bar if there is one."""
    if bar.live.is_started:
        bar.console.print(Text(message))
    else:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


class Stopper(SignalCounter):
    """What SIGINT and SIGTERM do to the run: the first stops it, the second abandons."""

    def __init__(self, bar: Progress) -> None:
        super().__init__()
        self.bar = bar
        self.run: AsyncBulkRun | None = None

    def on_signal(self, signum: int) -> None:
        run = self.run
        in_flight = run.in_flight if run is not None else 0
        if self.signals == 1:
            if run is not None:
                run.stop()
            name = signal.Signals(signum).name
            _say(
                self.bar,
                f"{name}: taking no new rows; waiting for {in_flight} requests in flight;"
                " press Ctrl-C again to abandon them",
            )
        elif self.signals == 2:
            if run is not None:
                run.abandon()
            _say(
                self.bar,
                f"abandoning {in_flight} requests in flight: they are recorded as unknown",
            )


@click.command("bulk-create")
@click.argument("input_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="output CSV: one row per input row (mode 0600: it holds card keys); OUT.campaign"
    " beside it names the journal it was written from",
)
@click.option(
    "--journal",
    "journal_arg",
    metavar="PATH|URL",
    envvar=ENV_JOURNAL,
    help="the run's journal: a file (mode 0600), or a database shared by several"
    " processes and hosts: sqlite:///FILE.db or postgresql://... (?campaign=NAME picks"
    f" a campaign); reuse it to resume [env {ENV_JOURNAL}; default: OUT.journal]",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="requests in flight at once",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="worker processes splitting the rows (needs a database --journal); each writes"
    " OUT.worker-K, and OUT is written once they are done",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_LEASE,
    show_default=True,
    help="database journal: seconds a worker's claim on rows it has not sent yet lasts;"
    " after it, another worker may send them",
)
@click.option("--retry-unknown", is_flag=True, help="send rows whose outcome is unknown again")
@click.option(
    "--transport",
    type=click.Choice(["httpx", "aiohttp"]),
    default="httpx",
    envvar=ENV_TRANSPORT,
    show_default=True,
    help="the HTTP client: httpx (the SDK's default), or aiohttp (needs gatepay[aiohttp];"
    f" less CPU per card, the same outcome for every answer) [env {ENV_TRANSPORT}]",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="at most this many requests per second",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="show the progress bar (on a terminal; elsewhere a one-line summary at the end)",
)
@click.option(
    "--spreadsheet-safe/--raw-cells",
    default=True,
    show_default=True,
    help="prefix a cell starting with = + - @ ' tab or CR with ' so spreadsheets do not run it"
    " as a formula (a program reading OUT strips that '; the journal keeps raw values)",
)
@client_options
def bulk_create_command(
    input_csv: Path,
    out_path: Path,
    journal_arg: str | None,
    concurrency: int,
    workers: int,
    lease: float,
    retry_unknown: bool,
    transport: str,
    rate: float | None,
    progress: bool,
    spreadsheet_safe: bool,
    options: ClientOptions,
) -> int:
    """Issue one card per row of INPUT_CSV (columns ref,title,template_id,currency,amount).

    Each row's outcome goes to a journal before and after its request, so the command
    can be killed and run again with the same --journal: issued rows are never sent
    twice, unknown ones are not sent again unless --retry-unknown. OUT is rewritten
    from the journal on every run (columns ref,state,card_number,key,status,amount,
    currency,error; state is issued, failed, unknown or not_attempted). Cards an earlier
    OUT holds for rows the journal left in doubt are taken back into the journal only
    if OUT.campaign shows that OUT was written from this journal; otherwise the rows
    stay unknown.

    A database journal (--journal sqlite:///FILE.db or postgresql://..., or the
    GATEPAY_JOURNAL variable, which keeps a password out of the process list) is shared:
    several bulk-create processes, on one host or several, over the same input and the
    same journal split the rows, and --workers N starts N of them here. A row another
    worker holds is not sent by this one; a worker that dies leaves the rows it had sent
    unknown, and the rows it had claimed go to another worker after --lease seconds.

    Ctrl-C or SIGTERM: no new rows are sent, the requests in flight finish and are
    recorded, OUT is written, exit 130; a second signal abandons the requests in flight
    (recorded as unknown). Exit status: 0 every row issued, 1 a usage or configuration
    error, or GatePay could not be reached before any create of the run got there (the
    run stops; nothing was done), 2 some row failed, unknown or not attempted, or
    changed since its ref was sent (never resent), or a journal ref is no longer in the
    input (its row is kept at the end of OUT), or the journal could not be written, 4
    GatePay refused the credentials (checked with a signed read before any create is
    sent; that check stops the run too when it gets no readable answer: exit 4 for an
    answer that cannot be read, 1 for none), 130 interrupted. --json prints a summary object.
    """
    place = _journal_place(journal_arg, workers, out_path)
    total = _rows_in(input_csv, out_path, place.path)
    # httpx unless asked: see docs/reliability.md ("Which transport bulk-create uses").
    http_client = _http_client(transport)
    client = options.client(http_client)
    journal = _open_journal(place, lease)
    started = time.monotonic()
    campaign, workers_signals = _run_the_workers(
        workers,
        input_csv,
        out_path,
        journal,
        journal_arg,
        options,
        _worker_arguments(
            concurrency, lease, retry_unknown, rate, spreadsheet_safe, workers, transport
        ),
    )
    _recover_from_output(out_path, journal)
    interactive = sys.stderr.isatty()
    with journal, signals_restored():
        tally, stopper, failure = _issue_with_progress(
            progress and interactive,
            total,
            workers_signals,
            client,
            http_client,
            input_csv,
            journal,
            concurrency,
            retry_unknown,
            rate,
        )
        if campaign is not None:  # the summary is the campaign's: the workers' cards count
            _count_the_campaign(tally, campaign, started)
        counts = _write_results(input_csv, out_path, journal, failure, spreadsheet_safe)
        if counts is None:
            return EXIT_INCOMPLETE
    interrupted = stopper.signals > 0
    changed = counts.pop("changed", 0)
    kept = counts.pop("kept", 0)
    if kept:  # the output holds rows the input does not: say so wherever it is read
        _say_kept(kept, input_csv, out_path, journal)
    status = _exit_status(interrupted, failure, tally, counts, changed=changed, kept=kept)
    where = journal.description
    if options.as_json:
        summary = _summary_data(tally, counts, out_path, where, interrupted, status)
        extra: dict[str, object] = {"elsewhere": tally.elsewhere} if journal.shared else {}
        if workers > 1:
            extra["workers"] = workers
        print_json(
            {
                **summary,
                "changed": changed,
                "kept_not_in_input": kept,
                "transport": transport,
                **extra,
            }
        )
        return status
    _print_summary(tally, counts, out_path, where, interrupted, transport, changed)
    if progress and not interactive:
        _one_line_summary(tally, counts, interrupted)
    return status


@attrs.frozen
class JournalPlace:
    """Where the run's journal is: a database (``url``; ``path`` is its file for SQLite,
    None for PostgreSQL) or a file (``path``)."""

    url: DatabaseURL | None
    path: Path | None


def _journal_place(journal_arg: str | None, workers: int, out_path: Path) -> JournalPlace:
    """``--journal`` read (default: OUT.journal); ``--workers`` needs a database one."""
    shared = is_database_url(journal_arg)
    if workers > 1 and not shared:
        raise click.UsageError(
            "--workers needs a database journal (--journal sqlite:///FILE.db or"
            " postgresql://...): a journal file is held by one process"
        )
    if journal_arg is not None and shared:
        try:
            url = parse_database_url(journal_arg, argument="--journal")
        except ValidationError as exc:
            raise click.UsageError(str(exc)) from None
        return JournalPlace(url, Path(url.target) if url.dialect == "sqlite" else None)
    return JournalPlace(
        None, Path(journal_arg) if journal_arg else out_path.with_name(out_path.name + ".journal")
    )


def _rows_in(input_csv: Path, out_path: Path, journal_path: Path | None) -> int:
    """The number of rows of the input, once the input, the output and the journal are
    known to be three files that can be used (a usage error otherwise)."""
    try:
        total = scan_input(input_csv)
        check_paths(input_csv, out_path, journal_path)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    return total


def _open_journal(place: JournalPlace, lease: float) -> JournalStore:
    try:
        if place.url is not None:
            from gatepay_async._storage.journal_db import DatabaseJournal  # its drivers on demand

            return DatabaseJournal.open(
                place.url,
                lease=lease,
                owner=os.environ.get(ENV_OWNER) or None,
                started_ms=_run_started(),
            )
        assert place.path is not None
        return Journal.open(place.path)
    except JournalError as exc:
        raise click.UsageError(str(exc)) from None


def _run_the_workers(
    workers: int,
    input_csv: Path,
    out_path: Path,
    journal: JournalStore,
    journal_arg: str | None,
    options: ClientOptions,
    arguments: list[str],
) -> tuple[DatabaseJournal | None, int]:
    """With ``--workers`` N > 1, the N worker processes, run to their end: the campaign's
    journal and the signals received meanwhile. (None, 0) for a run of one process."""
    if workers <= 1:
        return None, 0
    from gatepay_async._storage.journal_db import DatabaseJournal

    assert isinstance(journal, DatabaseJournal)
    assert journal_arg is not None
    signals = _run_workers(workers, input_csv, out_path, journal, journal_arg, options, arguments)
    return journal, signals


def _recover_from_output(out_path: Path, journal: JournalStore) -> None:
    """Cards an earlier OUT holds and the journal could not record, back into it."""
    try:
        recovered = recover_from_output(out_path, journal)
    except JournalError as exc:
        journal.close()
        raise click.UsageError(str(exc)) from None
    if recovered:
        sys.stderr.write(
            f"gatepay: took {recovered} card(s) that the journal could not record back from"
            f" {out_path} into the journal\n"
        )


def _issue_with_progress(
    show: bool,
    total: int,
    workers_signals: int,
    client: AsyncGatePay,
    http_client: httpx.AsyncClient | None,
    input_csv: Path,
    journal: JournalStore,
    concurrency: int,
    retry_unknown: bool,
    rate: float | None,
) -> tuple[RunTally, Stopper, JournalError | None]:
    """The rows sent, under the progress bar and the signal handlers: the run's tally,
    its stopper (the signals it got) and the journal failure that stopped it, if any."""
    with _progress(show) as bar:
        task = bar.add_task(
            "issuing", total=total, issued=0, failed=0, unknown=0, resumed=0, speed=0.0
        )
        tally = RunTally(bar, task, total)
        stopper = Stopper(bar)
        stopper.signals = workers_signals  # stopped while the workers ran: send nothing
        defer_signals(stopper)
        failure = _issue(
            client,
            http_client,
            input_csv,
            journal,
            concurrency,
            retry_unknown,
            rate,
            tally,
            stopper,
        )
        defer_signals(stopper)  # the event loop put the default handlers back
    return tally, stopper, failure


def _count_the_campaign(tally: RunTally, campaign: DatabaseJournal, started: float) -> None:
    """The tally of the whole campaign (its workers' cards), from the start of the run."""
    tally.started = started
    with contextlib.suppress(JournalError):
        tally.issued_now = campaign.issued_since_open()


def _write_results(
    input_csv: Path,
    out_path: Path,
    journal: JournalStore,
    failure: JournalError | None,
    spreadsheet_safe: bool,
) -> Counter[str] | None:
    """The keys the journal could not record (on stderr), then OUT, written from the
    journal: the count of its rows by state; None when OUT cannot be written."""
    unwritten = journal.unwritten_cards()
    if unwritten:  # first, where nothing can fail: these keys exist nowhere else
        _print_unwritten(unwritten)
    if failure is not None:
        sys.stderr.write(f"gatepay: {failure}\n")
    try:
        return write_output(input_csv, out_path, journal, spreadsheet_safe=spreadsheet_safe)
    except OSError as exc:
        where = "printed above" if unwritten else "in the journal"
        sys.stderr.write(
            f"gatepay: cannot write the output {out_path}: {exc.strerror or exc}."
            f" The keys of the cards issued are {where}; free some space and run again"
            " with the same journal to write the output (nothing is sent twice).\n"
        )
        return None


def _say_kept(kept: int, input_csv: Path, out_path: Path, journal: JournalStore) -> None:
    sys.stderr.write(
        f"gatepay: {kept} ref(s) in the journal are not in the input any more"
        f" ({_kept_refs(input_csv, journal)}); their rows (and any card's key) were kept"
        f" at the end of {out_path} (error column: 'not in the input any more')\n"
    )


def _exit_status(
    interrupted: bool,
    failure: JournalError | None,
    tally: RunTally,
    counts: Counter[str],
    *,
    changed: int,
    kept: int,
) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if failure is None and tally.nothing_reached_gatepay:
        return EXIT_USAGE
    if failure is None and not (changed or kept) and counts[ISSUED] == sum(counts.values()):
        return EXIT_OK
    return EXIT_INCOMPLETE


def _print_summary(
    tally: RunTally,
    counts: Counter[str],
    out_path: Path,
    where: str,
    interrupted: bool,
    transport: str,
    changed: int,
) -> None:
    out = stdout_console()
    _summary(out, tally, counts, out_path, where, interrupted, transport)
    if tally.elsewhere:
        out.print(
            f"{tally.elsewhere} row(s) were held by other workers of the campaign (not sent"
            " by this one; their state in OUT is the journal's when it was written)."
        )
    if changed:  # a changed row was not sent: this run did not do what the input says
        out.print(
            f"{changed} row(s) changed since their ref was sent (see 'changed:' in the"
            " error column); they were NOT sent again. Give a changed row a new ref."
        )


def _worker_arguments(
    concurrency: int,
    lease: float,
    retry_unknown: bool,
    rate: float | None,
    spreadsheet_safe: bool,
    workers: int,
    transport: str,
) -> list[str]:
    """The options every worker is given (never a secret: see _bulk_workers)."""
    arguments = ["--concurrency", str(concurrency), "--lease", repr(lease), "--no-progress"]
    arguments += ["--transport", transport]
    arguments.append("--spreadsheet-safe" if spreadsheet_safe else "--raw-cells")
    if retry_unknown:
        arguments.append("--retry-unknown")
    if rate is not None:
        arguments += ["--rate", repr(rate / workers)]  # the rate is the campaign's
    return arguments


def _http_client(transport: str) -> DefaultAioHttpClient | None:
    """The run's HTTP client: None for the SDK's default (httpx), or aiohttp's when
    ``--transport aiohttp`` asks for it and it is installed."""
    if transport != "aiohttp":
        return None
    if not aiohttp_available():
        raise click.UsageError("--transport aiohttp needs aiohttp: pip install 'gatepay[aiohttp]'")
    return DefaultAioHttpClient()


def _run_started() -> int | None:
    """The start of the ``--workers`` run this process is a worker of (None: its own)."""
    value = os.environ.get(ENV_STARTED, "")
    return int(value) if value.isdigit() else None


def _run_workers(
    count: int,
    input_csv: Path,
    out_path: Path,
    journal: DatabaseJournal,
    journal_arg: str,
    options: ClientOptions,
    arguments: list[str],
) -> int:
    """Run ``count`` worker processes to their end, then end the claims of any that died.

    Returns how many stop signals came meanwhile (forwarded to the workers)."""
    owners = [f"{journal.owner}-{number + 1}" for number in range(count)]
    workers = Workers(
        count,
        input_csv,
        out_path,
        journal_arg,
        owners,
        arguments,
        options,
        started_ms=journal.started_ms,  # the siblings' unknowns are this run's
    )
    codes = workers.run()
    released = recovered = settled = 0
    try:
        killed = [owner for owner, code in zip(owners, codes, strict=True) if code < 0]
        released, recovered, settled = after_workers(journal, owners, out_path, killed)
    except JournalError as exc:
        sys.stderr.write(f"gatepay: {exc}\n")
    for number, code in enumerate(codes, start=1):
        if code < 0:
            name = signal.Signals(-code).name
            sys.stderr.write(
                f"gatepay: worker {number} was ended by {name}; rows it had sent and not"
                " recorded read as unknown (never sent again on their own)\n"
            )
    if released:
        sys.stderr.write(
            f"gatepay: {released} row(s) the workers had claimed and not sent were released\n"
        )
    if recovered:
        sys.stderr.write(
            f"gatepay: took {recovered} card(s) that the workers' journal could not record"
            " back from their outputs into the journal\n"
        )
    if settled:
        sys.stderr.write(
            f"gatepay: {settled} row(s) the killed workers had sent without recording the"
            " answer are unknown: check them in your GatePay records, then run again with"
            " --retry-unknown to send the ones not issued\n"
        )
    return workers.signals


def _kept_refs(input_csv: Path, journal: JournalStore, shown: int = 5) -> str:
    """The first few journal refs the input no longer has, quoted (a ref may hold anything)."""
    try:
        present = {spec.ref for spec in read_specs(input_csv)}
    except InputError:  # pragma: no cover - it was just read whole
        return "see the output"
    missing = [ref for ref in journal if ref not in present]
    more = f" and {len(missing) - shown} more" if len(missing) > shown else ""
    return ", ".join(repr(ref) for ref in missing[:shown]) + more


def _summary_data(
    tally: RunTally,
    counts: Counter[str],
    out_path: Path,
    journal_path: str,
    interrupted: bool,
    exit_code: int,
) -> dict[str, object]:
    """The --json summary: the same facts as the table, for a program."""
    return {
        "issued": counts[BulkState.ISSUED.value],
        "issued_this_run": tally.issued_now,
        "failed": counts[BulkState.FAILED.value],
        "unknown": counts[BulkState.UNKNOWN.value],
        "not_attempted": counts[NOT_ATTEMPTED_STATE],
        "total": sum(counts.values()),
        "interrupted": interrupted,
        "seconds": round(tally.elapsed, 3),
        "output": str(out_path),
        "journal": str(journal_path),
        "exit_code": exit_code,
    }


def _issue(
    client: AsyncGatePay,
    http_client: httpx.AsyncClient | None,
    input_csv: Path,
    journal: JournalStore,
    concurrency: int,
    retry_unknown: bool,
    rate: float | None,
    tally: RunTally,
    stopper: Stopper,
) -> JournalError | None:
    """Run create_many under the signal watcher; the journal's failure if it had one."""

    async def run() -> JournalError | None:
        async with client as gp, http_client or nullcontext():
            # Wrong credentials, or no readable answer: stopped here, before any create
            # is sent and outside the task group, so the error reaches the exit-code
            # mapping whole. A GatePay error it could read is left to the run.
            await check_credentials(gp)
            return await _run_rows(
                gp, input_csv, journal, concurrency, retry_unknown, rate, tally, stopper
            )

    try:
        return run_until_interrupted(run)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None


async def _run_rows(
    gp: AsyncGatePay,
    input_csv: Path,
    journal: JournalStore,
    concurrency: int,
    retry_unknown: bool,
    rate: float | None,
    tally: RunTally,
    stopper: Stopper,
) -> JournalError | None:
    """create_many over the rows, with the signal watcher beside it."""
    async with anyio.create_task_group() as watchers:
        await watchers.start(stopper.watch)
        stopper.run = gp.gift_cards.create_many(
            read_specs(input_csv),
            concurrency=concurrency,
            journal=journal,
            retry_unknown=retry_unknown,
            rate=rate,
            on_progress=tally,
        )
        if stopper.signals:  # a signal came while the run was being set up
            stopper.run.stop()
        try:
            async with stopper.run as results:
                async for _ in results:
                    pass
        except JournalError as exc:
            return exc
        finally:
            tally.elsewhere = stopper.run.elsewhere
            watchers.cancel_scope.cancel()
    return None


def _print_unwritten(cards: list[tuple[str, dict[str, Any]]]) -> None:
    """The cards the journal could not record, whole and plain, on stderr."""
    lines = [
        f"gatepay: {len(cards)} card(s) were issued but could not be written to the journal."
        " Keep these keys (they are also in the output if it could be written):",
        "ref,card_number,key",
    ]
    for ref, card in cards:
        number = card.get("card_num") or card.get("cardNumber") or card.get("card_number")
        key = card.get("card_key") or card.get("key")
        lines.append(f"{ref},{number},{key}")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def _one_line_summary(tally: RunTally, counts: Counter[str], interrupted: bool) -> None:
    """For logs and CI: the end of the run on one whole line (no bar to cut)."""
    total = sum(counts.values())
    sys.stderr.write(
        f"bulk-create {'interrupted' if interrupted else 'done'}: {total} rows:"
        f" {counts[BulkState.ISSUED.value]} issued ({tally.issued_now} by this run),"
        f" {counts[BulkState.FAILED.value]} failed, {counts[BulkState.UNKNOWN.value]} unknown,"
        f" {counts[NOT_ATTEMPTED_STATE]} not attempted; {tally.elapsed:.1f} s\n"
    )


def _summary(
    console: Console,
    tally: RunTally,
    counts: Counter[str],
    out_path: Path,
    journal_path: str,
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
    if counts[NOT_ATTEMPTED_STATE]:
        table.add_row("not attempted", str(counts[NOT_ATTEMPTED_STATE]))
    table.add_row("total", str(sum(counts.values())))
    console.print(table)
    console.print(
        f"{tally.issued_now} cards issued in {tally.elapsed:.1f} s"
        f" ({tally.cards_per_second:.0f} cards/s, transport: {transport})"
    )
    console.print(Text(f"output:  {out_path}"))
    console.print(Text(f"journal: {journal_path}"))
    if counts[BulkState.FAILED.value]:
        console.print(
            "Rows marked 'failed' were not issued (see their error column); fix them and run"
            " again with the same journal: only those rows are sent."
        )
    if counts[BulkState.UNKNOWN.value]:
        console.print(UNKNOWN_ADVICE)
    if counts[NOT_ATTEMPTED_STATE]:
        console.print(NOT_ATTEMPTED_ADVICE)


COMMANDS = [bulk_create_command]
