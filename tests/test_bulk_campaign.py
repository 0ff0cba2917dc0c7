"""Shared campaigns with real processes: ``gatepay bulk-create`` workers over one database
journal, against a sandbox process (uvicorn on 127.0.0.1, SQLite card store), one worker
SIGKILLed mid-run; ``--workers N``; the usage rules."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from gatepay_async._bulk_models import BulkState
from gatepay_async._storage.database import NOW_MS
from gatepay_async._storage.journal_db import DatabaseJournal
from gatepay_async.cli._app import cli
from tests.conftest import gatepay_command, gatepay_environ
from tests.secret_leaks import leaked_pieces
from tests.test_cli import (
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    _start_sandbox,
    _stats,
    _stop_sandbox,
    read_output,
    write_input,
)
from tests.test_cli_recover_output import sealed
from tests.waiting import create_in_flight, wait_until

CONCURRENCY = 8
LEASE = 2.0


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A sandbox process whose answers take 50 ms: requests are in flight when it matters."""
    db = tmp_path / "cards.db"
    process, url = _start_sandbox(db, latency=0.05)
    try:
        yield url, db
    finally:
        _stop_sandbox(process)


def _cards(db: Path) -> dict[str, tuple[str, str]]:
    """title -> (number, key) of each card the sandbox issued; fails if a title is twice."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT title, card_num, card_key FROM cards").fetchall()
    finally:
        connection.close()
    titles = [str(title) for title, _, _ in rows]
    doubles = {title for title in titles if titles.count(title) > 1}
    assert not doubles, f"issued twice: {sorted(doubles)[:5]}"
    return {str(title): (str(number), str(key)) for title, number, key in rows}


def _rows(count: int) -> list[tuple[str, ...]]:
    return [(f"r{i}", f"title-{i}", TEMPLATE_ID, "USDT", "1.25") for i in range(count)]


def _worker(
    url: str, source: Path, out: Path, journal: str, *more: str
) -> tuple[list[str], dict[str, str]]:
    """One ``gatepay bulk-create`` worker: the journal's URL in its environment."""
    command = gatepay_command(
        *("bulk-create", str(source), "--out", str(out)),
        *("--concurrency", str(CONCURRENCY), "--lease", str(LEASE), "--no-progress", *more),
    )
    return command, {**gatepay_environ(url, CLIENT_ID, SECRET_KEY), "GATEPAY_JOURNAL": journal}


_COUNT_ISSUED = "SELECT count(*) FROM gatepay_journal_refs WHERE recorded = 'issued'"
#: Claims whose lease has not run out, on the database's clock (as the journal reads it).
_COUNT_LIVE_CLAIMS = (
    "SELECT count(*) FROM gatepay_journal_refs WHERE state = 'claimed' AND lease_until > {now}"
)

#: Rows decided in the database's current millisecond (or later).
_COUNT_DECIDED_NOW = "SELECT count(*) FROM gatepay_journal_refs WHERE decided_at >= {now}"


def _issued_in(journal_url: str) -> int:
    """How many refs the campaign's journal records issued (read by another connection)."""
    return _count_in(journal_url, _COUNT_ISSUED)


def _live_claims_in(journal_url: str) -> int:
    """How many rows of the campaign are claimed under a lease that has not run out."""
    return _count_in(journal_url, _COUNT_LIVE_CLAIMS)


def _count_in(journal_url: str, query: str) -> int:
    """A count in the campaign's journal, read by another connection (0: no table yet)."""
    if journal_url.startswith("sqlite:///"):
        path = Path(journal_url.removeprefix("sqlite:///"))
        if not path.exists():
            return 0
        connection = sqlite3.connect(path, timeout=30)
        try:
            row = connection.execute(query.format(now=NOW_MS["sqlite"])).fetchone()
        except sqlite3.OperationalError:  # no table yet
            return 0
        finally:
            connection.close()
        return int(row[0]) if row else 0
    with psycopg.connect(journal_url) as pg:
        try:
            found = pg.execute(query.format(now=NOW_MS["postgresql"])).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(found[0]) if found else 0


@pytest.fixture(params=["postgresql", "sqlite"])
def campaign_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new campaign's journal: a PostgreSQL database, or an SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'campaign.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _command_lines_of_children(pid: int) -> list[str]:
    """What a process list shows of ``pid``'s children (read from /proc)."""
    lines = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != pid:
                continue
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return lines


def _in_input_order(path: Path, count: int) -> list[dict[str, str]]:
    output = read_output(path)
    assert [row["ref"] for row in output] == [f"r{i}" for i in range(count)]
    return output


def test_three_workers_one_killed_then_a_resume_issue_each_card_once(
    tmp_path: Path, sandbox: tuple[str, Path], campaign_url: str
) -> None:
    url, db = sandbox
    count = 1000
    source = write_input(tmp_path / "in.csv", _rows(count))
    outs = [tmp_path / f"out-{n}.csv" for n in range(3)]
    workers = []
    for out in outs:
        command, env = _worker(url, source, out, campaign_url)
        workers.append(
            subprocess.Popen(  # noqa: S603 - our own module
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        deadline = time.monotonic() + 120
        while _issued_in(campaign_url) < 150:
            assert all(worker.poll() is None for worker in workers), "a worker ended early"
            assert time.monotonic() < deadline, "the campaign made no progress"
            time.sleep(0.02)
        os.kill(workers[0].pid, signal.SIGKILL)  # mid-run: requests in flight, claims held
        workers[0].wait(timeout=30)
        for worker in workers[1:]:
            _, stderr = worker.communicate(timeout=240)
            assert "Traceback" not in stderr, stderr
            assert worker.returncode in (0, 2), stderr
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert workers[0].returncode == -signal.SIGKILL
    for out in outs[1:]:
        _in_input_order(out, count)  # each survivor's output: complete, input order

    # The dead worker's claims on rows it never sent run out (LEASE after it took them).
    wait_until(
        lambda: _live_claims_in(campaign_url) == 0,
        timeout=LEASE + 30,
        what="the dead worker's claims run out",
    )
    command, env = _worker(url, source, tmp_path / "out.csv", campaign_url, "--json")
    resumed = subprocess.run(  # noqa: S603 - our own module
        command, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert "Traceback" not in resumed.stderr, resumed.stderr
    output = _in_input_order(tmp_path / "out.csv", count)
    cards = _cards(db)  # no title issued twice
    states = {row["ref"].replace("r", "title-", 1): row for row in output}
    for title, (number, key) in cards.items():  # every card issued is in the journal
        row = states[title]
        assert row["state"] in ("issued", "unknown"), title
        if row["state"] == "issued":
            assert (row["card_number"], row["key"]) == (number, key)
    unknown = [row for row in output if row["state"] == "unknown"]
    assert len(unknown) <= CONCURRENCY  # at most the dead worker's requests in flight
    assert all("stopped before its answer" in row["error"] for row in unknown)
    issued = [row for row in output if row["state"] == "issued"]
    assert len(issued) + len(unknown) == count  # nothing left unsent
    assert resumed.returncode == (2 if unknown else 0), resumed.stdout + resumed.stderr
    with DatabaseJournal.open(campaign_url) as journal:
        counts = journal.counts()  # an answer that holds a card counts as unknown here
        assert counts[BulkState.ISSUED] + counts[BulkState.UNKNOWN] == count
        assert counts[BulkState.ISSUED] <= len(issued)


def test_workers_option_runs_the_campaign_and_writes_every_output_in_order(
    tmp_path: Path, sandbox: tuple[str, Path]
) -> None:
    url, db = sandbox
    count = 90
    source = write_input(tmp_path / "in.csv", _rows(count))
    out = tmp_path / "out.csv"
    command = gatepay_command(
        *("bulk-create", str(source), "--out", str(out), "--workers", "3"),
        *("--concurrency", "4", "--no-progress", "--json"),
    )
    env = {
        **gatepay_environ(url, CLIENT_ID, SECRET_KEY),
        "GATEPAY_JOURNAL": f"sqlite:///{tmp_path}/campaign.db",
    }
    parent = subprocess.Popen(  # noqa: S603 - our own module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while len(lines) < 3 and parent.poll() is None and time.monotonic() < deadline:
            lines = _command_lines_of_children(parent.pid)
            time.sleep(0.01)
        stdout, stderr = parent.communicate(timeout=240)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert len(lines) == 3, "the workers were not seen running"
    for line in lines:  # rule 5: no secret in a process list
        assert not leaked_pieces(SECRET_KEY, line)
        assert "campaign.db" not in line  # the journal's URL goes by the environment
    assert parent.returncode == 0, stdout + stderr
    summary = json.loads(stdout)
    assert summary["workers"] == 3
    assert summary["issued_this_run"] == count  # the campaign's, whichever worker issued
    output = _in_input_order(out, count)
    cards = _cards(db)
    assert len(cards) == count
    for row in output:
        assert row["state"] == "issued"
        assert (row["card_number"], row["key"]) == cards[row["ref"].replace("r", "title-", 1)]
    for number in (1, 2, 3):
        worker_rows = _in_input_order(tmp_path / f"out.csv.worker-{number}", count)
        for row in worker_rows:
            if row["state"] == "issued":
                assert row["key"] == cards[row["ref"].replace("r", "title-", 1)][1]


def test_workers_needs_a_database_journal(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.csv", _rows(2))
    result = CliRunner().invoke(
        cli,
        ["bulk-create", str(source), "--out", str(tmp_path / "o.csv"), "--workers", "2"],
        env={"GATEPAY_CLIENT_ID": "c", "GATEPAY_SECRET_KEY": "s", "GATEPAY_JOURNAL": None},
    )
    assert result.exit_code == 1
    assert "--workers" in result.output


def _issued_in_sqlite(path: Path) -> int:
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return 0
    try:
        (number,) = connection.execute(
            "SELECT count(*) FROM gatepay_journal_refs WHERE recorded = 'issued'"
        ).fetchone()
    except sqlite3.Error:
        return 0
    finally:
        connection.close()
    return int(number)


@pytest.mark.parametrize("to_group", [False, True], ids=["SIGTERM to the command", "Ctrl-C"])
def test_a_signal_to_the_workers_command_stops_every_worker_cleanly(
    tmp_path: Path, to_group: bool
) -> None:
    """SIGTERM to the command alone (docker, systemd), or SIGINT to its whole process group
    (a terminal's Ctrl-C): each worker stops, finishes its requests in flight and takes no
    new row; the command sends nothing more and writes OUT."""
    db = tmp_path / "cards.db"
    process, url = _start_sandbox(db, latency=0.4)
    try:
        count = 120
        source = write_input(tmp_path / "in.csv", _rows(count))
        out, journal = tmp_path / "out.csv", tmp_path / "campaign.db"
        command = gatepay_command(
            *("bulk-create", str(source), "--out", str(out), "--workers", "2"),
            *("--concurrency", "4", "--no-progress"),
        )
        env = {
            **gatepay_environ(url, CLIENT_ID, SECRET_KEY),
            "GATEPAY_JOURNAL": f"sqlite:///{journal}",
        }
        parent = subprocess.Popen(  # noqa: S603 - our own module
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a process group of its own, as a terminal gives it
        )
        try:
            deadline = time.monotonic() + 60
            while _issued_in_sqlite(journal) < 8:
                assert parent.poll() is None, parent.communicate()
                assert time.monotonic() < deadline, "the campaign made no progress"
                time.sleep(0.02)
            # Mid-request: the sandbox holds a create it has not answered.
            wait_until(lambda: create_in_flight(_stats(url)), timeout=30, what="a create is sent")
            if to_group:
                os.killpg(parent.pid, signal.SIGINT)
            else:
                os.kill(parent.pid, signal.SIGTERM)
            stdout, stderr = parent.communicate(timeout=60)
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()
        assert parent.returncode == 130, stdout + stderr
        assert "Traceback" not in stderr
        output = _in_input_order(out, count)
        states = [row["state"] for row in output]
        assert "unknown" not in states  # one signal each: the requests in flight finished
        assert "not_attempted" in states  # and no new row was taken, by anyone
        # The sandbox has answered every create it received (and stored its card).
        wait_until(lambda: not create_in_flight(_stats(url)), timeout=30, what="all answered")
        cards = _cards(db)
        assert states.count("issued") == len(cards)
        for worker in (1, 2):
            # A worker's own output is the journal when it ended: its sibling may still have
            # had requests in flight, which it reports as such (never as its own).
            worker_rows = _in_input_order(tmp_path / f"out.csv.worker-{worker}", count)
            for row in worker_rows:
                if row["state"] == "unknown":
                    assert row["error"].startswith("sent by another worker"), row

        again = subprocess.run(  # noqa: S603 - our own module
            command, env=env, capture_output=True, text=True, timeout=240, check=False
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(_cards(db)) == count  # each title once
        assert {row["state"] for row in _in_input_order(out, count)} == {"issued"}
    finally:
        _stop_sandbox(process)


def test_workers_option_releases_a_dead_workers_claims_and_sends_them_at_once(
    tmp_path: Path, sandbox: tuple[str, Path]
) -> None:
    """A worker SIGKILLed mid-run: the command ends its claims without waiting for their
    lease (60 s here), sends those rows itself, and OUT is complete: issued, or unknown
    for the dead worker's requests in flight."""
    url, db = sandbox
    count = 160
    source = write_input(tmp_path / "in.csv", _rows(count))
    out, journal = tmp_path / "out.csv", tmp_path / "campaign.db"
    command = gatepay_command(
        *("bulk-create", str(source), "--out", str(out), "--workers", "2"),
        # A rate keeps rows claimed and waiting for their turn when the worker dies.
        *("--concurrency", str(CONCURRENCY), "--rate", "60", "--no-progress"),
    )
    env = {
        **gatepay_environ(url, CLIENT_ID, SECRET_KEY),
        "GATEPAY_JOURNAL": f"sqlite:///{journal}",
    }
    parent = subprocess.Popen(  # noqa: S603 - our own module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while _issued_in_sqlite(journal) < 30:
            assert parent.poll() is None, parent.communicate()
            assert time.monotonic() < deadline, "the campaign made no progress"
            time.sleep(0.01)
        victims = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and _parent_of(entry) == parent.pid
        ]
        assert len(victims) == 2
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = parent.communicate(timeout=120)  # well within the 60 s lease
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert "was ended by SIGKILL" in stderr
    output = _in_input_order(out, count)
    cards = _cards(db)
    states = [row["state"] for row in output]
    assert set(states) <= {"issued", "unknown"}  # nothing left unsent
    assert states.count("unknown") <= CONCURRENCY
    assert parent.returncode == (2 if "unknown" in states else 0), stdout + stderr
    for row in output:
        title = row["ref"].replace("r", "title-", 1)
        if row["state"] == "issued":
            assert (row["card_number"], row["key"]) == cards[title]


def _parent_of(entry: Path) -> int | None:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def test_workers_option_leaves_a_dead_workers_sends_unknown_and_retry_unknown_sends_them(
    tmp_path: Path,
) -> None:
    """A worker SIGKILLed mid-request: its rows in flight end ``unknown`` (never sent
    again on their own), and once the user has checked them, ``--retry-unknown`` sends
    the ones GatePay never issued. Before, they stayed ``intent`` for ever: no run, with
    --retry-unknown or not, could ever send them again."""
    db = tmp_path / "cards.db"
    process, url = _start_sandbox(db, latency=1.0)  # the kill lands while requests wait
    try:
        count = 24
        source = write_input(tmp_path / "in.csv", _rows(count))
        out, journal = tmp_path / "out.csv", tmp_path / "campaign.db"
        command = gatepay_command(
            *("bulk-create", str(source), "--out", str(out), "--workers", "2"),
            *("--concurrency", "3", "--no-progress"),
        )
        env = {
            **gatepay_environ(url, CLIENT_ID, SECRET_KEY),
            "GATEPAY_JOURNAL": f"sqlite:///{journal}",
        }
        parent = subprocess.Popen(  # noqa: S603 - our own module
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 60
            while _issued_in_sqlite(journal) < 3:
                assert parent.poll() is None, parent.communicate()
                assert time.monotonic() < deadline, "the campaign made no progress"
                time.sleep(0.02)
            # Mid-request: the sandbox holds a create it has not answered (for 1 s).
            wait_until(lambda: create_in_flight(_stats(url)), timeout=30, what="a create is sent")
            victims = [
                int(entry.name)
                for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and _parent_of(entry) == parent.pid
            ]
            assert len(victims) == 2
            os.kill(victims[0], signal.SIGKILL)
            stdout, stderr = parent.communicate(timeout=120)
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()
        assert parent.returncode == 2, stdout + stderr
        output = _in_input_order(out, count)
        unknown = [row for row in output if row["state"] == "unknown"]
        assert unknown, "the killed worker had requests in flight"
        assert all("stopped before its answer" in row["error"] for row in unknown)
        cards = _cards(db)
        # The user checks GatePay: the killed requests never issued a card.
        titles = {row["ref"].replace("r", "title-", 1) for row in unknown}
        assert not titles & set(cards), "a killed request issued its card"

        again = subprocess.run(  # noqa: S603 - our own module
            [*command, "--retry-unknown"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(_cards(db)) == count  # each title once
        assert {row["state"] for row in _in_input_order(out, count)} == {"issued"}
        assert "--retry-unknown" in stderr  # the first run said what to do
    finally:
        _stop_sandbox(process)


def test_after_the_workers_a_card_in_a_workers_output_is_taken_back_never_made_unknown(
    tmp_path: Path, campaign_url: str
) -> None:
    """A worker whose journal failed (database locked past its busy timeout, server
    gone) printed the cards it could not record and wrote them to its own output: the
    command takes them back into the journal before it makes the dead workers' sends
    unknown, so that OUT holds their keys and --retry-unknown never sends them again."""
    from gatepay_async._wire.validation import CreateRequest, build_create_request
    from gatepay_async.cli._bulk_workers import after_workers, worker_output

    def request(title: str) -> CreateRequest:
        return build_create_request(
            title=title, template_id=TEMPLATE_ID, currency="USDT", amount="1.25"
        )

    out = tmp_path / "out.csv"
    with DatabaseJournal.open(campaign_url, owner="parent") as parent:
        child = DatabaseJournal.open(campaign_url, owner="parent-1")
        child.claim(["r0", "r1", "r2"])
        for ref in ("r0", "r1", "r2"):
            child.record_intent(ref, request(f"title-{ref}"))
        child.flush()  # then it was killed: r0's card is only in its output
        # A worker that exited by itself after its journal failed knew its outcomes (it
        # printed them): its intents are left alone.
        stopped = DatabaseJournal.open(campaign_url, owner="parent-2")
        stopped.claim(["r3"])
        stopped.record_intent("r3", request("title-r3"))
        stopped.flush()
        worker_output(out, 1).write_text(
            "ref,state,card_number,key,status,amount,currency,error\n"
            "r0,issued,4111000011112222,KEY-r0-secret,,1.25,USDT,\n",
            encoding="utf-8",
        )
        sealed(worker_output(out, 1), parent.campaign_id)  # written from this campaign
        # Nothing claimed and unsent to release; r0 taken back; r1 and r2 made unknown.
        owners = ["parent-1", "parent-2"]
        assert after_workers(parent, owners, out, ["parent-1"]) == (0, 1, 2)
        assert parent.interrupted("r3")
        stopped.close()
        entry = parent.entry("r0")
        assert entry is not None
        assert entry.state is BulkState.ISSUED
        assert entry.card is not None
        assert entry.card.key == "KEY-r0-secret"
        assert parent.state("r1") is BulkState.UNKNOWN
        child.close()
    # A run sends again only what was decided before the millisecond it started.
    wait_until(
        lambda: _count_in(campaign_url, _COUNT_DECIDED_NOW) == 0,
        timeout=10,
        what="the database's clock is past the last decision",
    )
    with DatabaseJournal.open(campaign_url) as rerun:
        rerun.claim(["r0", "r1"], retry_unknown=True)
        assert rerun.state("r0") is BulkState.ISSUED  # reported, never sent again
        assert not rerun.held_elsewhere("r1")  # checked by the user: may be sent


def test_workers_option_gives_every_worker_the_runs_start(tmp_path: Path) -> None:
    """Each child of ``--workers`` is told when the run started (see the journal test
    test_a_worker_given_its_runs_start_never_sends_a_siblings_fresh_unknown)."""
    from gatepay_async.cli._bulk_workers import ENV_STARTED, Workers
    from gatepay_async.cli._options import ClientOptions

    out = tmp_path / "out.csv"
    workers = Workers(
        2, tmp_path / "in.csv", out, "sqlite:///x.db", ["a", "b"], [], ClientOptions(), 1234
    )
    assert workers._environment(1)[ENV_STARTED] == "1234"
