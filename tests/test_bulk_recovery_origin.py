"""Recovery trusts only this campaign's own outputs.

Before a run (and after ``--workers``) ``bulk-create`` takes back into the journal the
cards an earlier output holds for rows the journal left in doubt. An output at the same
path written from another journal -- a second campaign reusing ``--out`` (or leaving
``OUT.worker-K`` files behind), an older version's output, one edited by hand -- must
never be read back: its cards are another campaign's, and taking them hands the same
cards out twice while the cards this campaign may have been issued are never looked
for. Real processes against a sandbox process (uvicorn on 127.0.0.1, SQLite card store),
SIGKILL while creates are in flight; file, SQLite and PostgreSQL journals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from gatepay_async._storage.journal import Journal
from gatepay_async._storage.journal_db import CAMPAIGNS, DatabaseJournal
from gatepay_async._storage.journal_store import JournalStore
from gatepay_async._wire.validation import build_create_request
from gatepay_async.cli._app import cli
from gatepay_async.cli._csv_io import OUTPUT_COLUMNS, recover_from_output
from gatepay_async.cli._output_origin import origin_path
from tests.conftest import gatepay_command, gatepay_environ
from tests.test_cli import (
    ADMIN_TOKEN,
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

ROWS = 6
#: Seconds GatePay takes to answer the creates that are to be in flight when the run is
#: killed (the kill comes as soon as the sandbox has them, long before this).
SLOW = 5.0


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "cards.db"
    process, url = _start_sandbox(db, latency=0.0)
    try:
        yield url, db
    finally:
        _stop_sandbox(process)


@pytest.fixture(params=["file", "sqlite", "postgresql"])
def journal_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _journal(kind: str, tmp_path: Path, name: str, request: pytest.FixtureRequest) -> str:
    """Campaign ``name``'s journal: a file, an SQLite file, or a campaign of a PostgreSQL
    database both campaigns share (told apart by ``?campaign=``)."""
    if kind == "file":
        return str(tmp_path / f"{name}.journal")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return f"{request.getfixturevalue('postgres_url')}?campaign={name}"


def _bulk(
    url: str, source: Path, out: Path, journal: str, *more: str
) -> tuple[list[str], dict[str, str]]:
    """A bulk-create command and its environment (a database journal's URL goes there)."""
    command = gatepay_command(
        *("bulk-create", str(source), "--out", str(out), "--no-progress", *more)
    )
    env = gatepay_environ(url, CLIENT_ID, SECRET_KEY)
    if "://" in journal:
        env["GATEPAY_JOURNAL"] = journal
    else:
        command += ["--journal", journal]
    return command, env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module
        command, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def _rows(campaign: str) -> list[tuple[str, ...]]:
    """The same refs for every campaign; titles that say whose row it is."""
    return [(f"r{i}", f"{campaign}-title-{i}", TEMPLATE_ID, "USDT", "1.25") for i in range(ROWS)]


def _slow_creates(url: str, count: int) -> None:
    """The next ``count`` creates take ``SLOW`` seconds: they are in flight a while."""
    answer = httpx.post(
        url + "/_sandbox/faults",
        json={"spec": f"create:latency={SLOW},times={count}"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()


def _creates(url: str) -> int:
    return int(_stats(url)["attempts"]["create"])


def _wait_for_creates(url: str, count: int, process: subprocess.Popen[str]) -> None:
    """Until the sandbox has received ``count`` creates in all (they are in flight)."""
    deadline = time.monotonic() + 60
    while _creates(url) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run sent nothing"
        time.sleep(0.02)


def _cards(db: Path) -> dict[str, tuple[str, str]]:
    """title -> (number, key) of each card the sandbox issued; fails if a title is twice."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT title, card_num, card_key FROM cards").fetchall()
    finally:
        connection.close()
    titles = [str(title) for title, _, _ in rows]
    assert len(titles) == len(set(titles)), "a title was issued twice"
    return {str(title): (str(number), str(key)) for title, number, key in rows}


def _first_campaign(url: str, tmp_path: Path, journal: str, *more: str) -> set[str]:
    """Campaign "first" issues every row into out.csv; its card numbers."""
    source = write_input(tmp_path / "first.csv", _rows("first"))
    done = _run(*_bulk(url, source, tmp_path / "out.csv", journal, *more))
    assert done.returncode == 0, done.stdout + done.stderr
    return {row["card_number"] for row in read_output(tmp_path / "out.csv")}


def test_a_second_campaign_reusing_the_output_path_never_takes_the_first_ones_cards(
    tmp_path: Path,
    sandbox: tuple[str, Path],
    journal_kind: str,
    request: pytest.FixtureRequest,
) -> None:
    """The reported scenario: a second campaign, same ``--out``, overlapping refs, its own
    journal; killed (SIGKILL) while two creates are in flight; resumed as documented.
    Before, the resumed run took the first campaign's cards from out.csv for the two
    rows in doubt and reported them issued (exit 0): those cards handed out twice, and
    the two creates, which GatePay may have issued, never reported. Now they stay
    unknown (exit 2), with a message that says why out.csv was not read back."""
    url, db = sandbox
    first_journal = _journal(journal_kind, tmp_path, "first", request)
    first_numbers = _first_campaign(url, tmp_path, first_journal)
    out = tmp_path / "out.csv"
    first_id = json.loads(origin_path(out).read_text())["campaign_id"]  # whose out.csv is

    second = _journal(journal_kind, tmp_path, "second", request)
    source = write_input(tmp_path / "second.csv", _rows("second"))
    command, env = _bulk(url, source, out, second, "--concurrency", "2")
    _slow_creates(url, 2)
    before = _creates(url)
    victim = subprocess.Popen(  # noqa: S603 - our own module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_creates(url, before + 2, victim)  # both in flight: intents durable
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert victim.returncode == -signal.SIGKILL

    resumed = _run(command, env)  # the documented resume: the same command again
    said = resumed.stdout + resumed.stderr
    output = {row["ref"]: row for row in read_output(out)}
    in_doubt = [row for row in output.values() if row["state"] == "unknown"]
    assert len(in_doubt) == 2, said  # the two creates killed in flight
    assert {row["card_number"] for row in output.values()}.isdisjoint(first_numbers), said
    assert resumed.returncode == 2, said
    assert "not taking 2 card(s) back from" in resumed.stderr
    assert "another journal or campaign" in resumed.stderr
    assert "look them up in your GatePay records" in resumed.stderr
    # The rest was sent by the resumed run and is the second campaign's own.
    cards = _cards(db)
    issued = [row for row in output.values() if row["state"] == "issued"]
    assert len(issued) == ROWS - 2
    for row in issued:
        title = row["ref"].replace("r", "second-title-", 1)
        assert cards[title] == (row["card_number"], row["key"])
    # And out.csv now says it is the second campaign's: a later resume of the first
    # campaign would not take these cards either.
    assert json.loads(origin_path(out).read_text())["campaign_id"] not in ("", first_id)


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s children (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return found


def test_workers_never_take_cards_from_worker_outputs_another_campaign_left_behind(
    tmp_path: Path, sandbox: tuple[str, Path]
) -> None:
    """``--workers 2`` of a second campaign, over out.csv.worker-1 and -2 that a first
    campaign's ``--workers 2`` runs left (each with every row issued); one worker
    SIGKILLed with its create in flight. Before, the command took the first campaign's
    card for that row from the dead worker's leftover output and reported it issued."""
    url, db = sandbox
    first = f"sqlite:///{tmp_path / 'first.db'}"
    source = write_input(tmp_path / "first.csv", _rows("first"))
    out = tmp_path / "out.csv"
    command, env = _bulk(url, source, out, first, "--workers", "2")
    for _ in range(2):  # the second run writes every issued row into both outputs
        done = _run(command, env)
        assert done.returncode == 0, done.stdout + done.stderr
    first_numbers = {row["card_number"] for row in read_output(out)}
    for number in (1, 2):
        leftover = read_output(out.with_name(f"out.csv.worker-{number}"))
        assert {row["state"] for row in leftover} == {"issued"}

    second = f"sqlite:///{tmp_path / 'second.db'}"
    source = write_input(tmp_path / "second.csv", _rows("second"))
    command, env = _bulk(url, source, out, second, "--workers", "2", "--concurrency", "1")
    _slow_creates(url, 2)
    before = _creates(url)
    parent = subprocess.Popen(  # noqa: S603 - our own module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_creates(url, before + 2, parent)  # one in flight in each worker
        workers = _children(parent.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = parent.communicate(timeout=120)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    said = stdout + stderr
    assert "was ended by SIGKILL" in stderr
    output = {row["ref"]: row for row in read_output(out)}
    assert {row["card_number"] for row in output.values()}.isdisjoint(first_numbers), said
    in_doubt = [row for row in output.values() if row["state"] == "unknown"]
    assert len(in_doubt) == 1, said  # the dead worker's create in flight
    assert parent.returncode == 2, said
    assert "another journal or campaign" in stderr
    cards = _cards(db)
    for row in output.values():
        if row["state"] == "issued":
            title = row["ref"].replace("r", "second-title-", 1)
            assert cards[title] == (row["card_number"], row["key"])


# ------------------------------------------------------------------ in one process


def _in_doubt(journal: JournalStore, refs: list[str]) -> None:
    """Sent, outcome never recorded (the run was killed mid-request)."""
    for ref in refs:
        request = build_create_request(
            title=f"t-{ref}", template_id=TEMPLATE_ID, currency="USDT", amount="1"
        )
        journal.record_intent(ref, request)
    journal.flush()


def _output_with(path: Path, cards: dict[str, tuple[str, str]]) -> None:
    lines = [",".join(OUTPUT_COLUMNS)]
    lines += [f"{ref},issued,{number},{key},,1,USDT," for ref, (number, key) in cards.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_output_with_no_identity_or_changed_since_is_refused_and_its_rows_stay_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output an older version (or a person) wrote has no ``OUT.campaign``; one
    edited since it was written no longer matches it: neither is read back, and the
    message says why. The same output, as this journal wrote it, is."""
    out = tmp_path / "out.csv"
    with Journal.open(tmp_path / "run.journal") as journal:
        _in_doubt(journal, ["r0", "r1"])
        _output_with(out, {"r0": ("1000000000000001", "K0"), "r1": ("1000000000000002", "K1")})
        assert recover_from_output(out, journal) == 0
        said = capsys.readouterr().err
        assert "not taking 2 card(s) back from" in said
        assert "carries no campaign identity" in said
        assert journal.interrupted("r0")
        assert journal.interrupted("r1")

        sealed(out, journal.campaign_id)
        with out.open("a", encoding="utf-8") as handle:  # edited after it was written
            handle.write("r9,issued,1000000000000009,K9,,1,USDT,\n")
        assert recover_from_output(out, journal) == 0
        assert "it changed after gatepay wrote it" in capsys.readouterr().err
        assert journal.interrupted("r0")

        sealed(out, journal.campaign_id)  # as this journal's run wrote it: trusted
        assert recover_from_output(out, journal) == 2
        assert not journal.interrupted("r0")
        assert capsys.readouterr().err == ""


def test_an_older_file_journal_gets_a_campaign_id_once_and_keeps_it(tmp_path: Path) -> None:
    """A journal an older version wrote (a first line with no campaign id) still opens and
    resumes: it is given an id on its first open, the same on every open after."""
    path = tmp_path / "old.journal"
    lines = [
        {"op": "journal", "version": 1, "at": 1},
        {"op": "intent", "ref": "r0", "title": "t", "template_id": TEMPLATE_ID,
         "currency": "USDT", "amount": "1", "at": 2},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    path.chmod(0o600)
    with Journal.open(path) as journal:
        given = journal.campaign_id
        assert journal.interrupted("r0")
    with Journal.open(path) as journal:
        assert journal.campaign_id == given
    with Journal.open(tmp_path / "other.journal") as other:
        assert other.campaign_id not in ("", given)


def test_an_older_database_campaign_gets_a_campaign_id_once_and_keeps_it(tmp_path: Path) -> None:
    """A campaign an older version wrote (no campaigns table) is given an id on its first
    open by this version, the same on every open after; another campaign's differs."""
    url = f"sqlite:///{tmp_path / 'campaign.db'}"
    with DatabaseJournal.open(url) as journal:
        journal.claim(["r0"])
        _in_doubt(journal, ["r0"])
    connection = sqlite3.connect(tmp_path / "campaign.db")
    with connection:
        connection.execute(f"DROP TABLE {CAMPAIGNS}")  # as an older version left it
    connection.close()
    with DatabaseJournal.open(url) as journal:
        given = journal.campaign_id
        assert journal.interrupted("r0")
    with DatabaseJournal.open(url) as journal:
        assert journal.campaign_id == given
    with DatabaseJournal.open(url + "?campaign=other") as other:
        assert other.campaign_id not in ("", given)


def test_a_journal_at_the_outputs_campaign_file_is_refused(tmp_path: Path) -> None:
    """``OUT.campaign`` is rewritten with every output: a journal there would be lost."""
    source = write_input(tmp_path / "in.csv", _rows("x"))
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        cli,
        ["bulk-create", str(source), "--out", str(out), "--journal", str(origin_path(out))],
    )
    assert result.exit_code == 1, result.output
    assert "campaign file" in result.output
