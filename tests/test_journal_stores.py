"""One journal interface, three stores: what the file journal does, the SQLite and the
PostgreSQL journals do too (records, states, entries, recovered answers, issued never
overwritten, a failed write stops the journal); and the claims that split a shared
campaign between workers."""

from __future__ import annotations

import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from gatepay_async import BulkState, Journal, JournalError
from gatepay_async._bulk.plan import open_journal
from gatepay_async._storage.database import parse_database_url
from gatepay_async._storage.journal import _RefIndex
from gatepay_async._storage.journal_db import DatabaseJournal
from gatepay_async._storage.journal_store import JournalStore
from gatepay_async._wire.validation import CreateRequest, build_create_request

CARD = {"card_num": "GC0000000001", "card_key": "KEY-very-secret-0001", "amount": "1.5"}
ANSWER = (
    b'{"status":"SUCCESS","code":"000000","data":{"card_num":"GC9","card_key":"KEY-9",'
    b'"amount":"1.5","currency":"USDT","status":1}}'
)

Opener = Callable[[], JournalStore]


def request(title: str = "t") -> CreateRequest:
    return build_create_request(
        title=title, template_id="255267012439183360", currency="USDT", amount=Decimal("1.5")
    )


@pytest.fixture(params=["file", "sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A path (file), or a database URL, for one test's journal."""
    if kind == "file":
        return str(tmp_path / "j.jsonl")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/j.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def reopen(location: str) -> Iterator[Opener]:
    """Opens the test's journal (again), as create_many would; closes them all after."""
    opened: list[JournalStore] = []

    def open_it() -> JournalStore:
        journal, owned = open_journal(location)
        assert journal is not None
        assert owned
        opened.append(journal)
        return journal

    yield open_it
    for journal in opened:
        journal.close()


def test_records_give_states_and_entries_back(reopen: Opener) -> None:
    journal = reopen()
    journal.record_intent("a", request("a"))
    journal.record_issued("a", CARD, request("a"))
    journal.record_intent("b", request("b"))
    journal.record_failed("b", "InvalidRequestError: nope")
    journal.record_intent("c", request("c"))
    journal.record_unknown("c", "OutcomeUnknownError: lost")
    journal.record_intent("d", request("d"))
    assert journal.state("a") is BulkState.ISSUED  # known before the flush
    assert journal.state("zzz") is None
    journal.close()
    again = reopen()
    assert again.state("a") is BulkState.ISSUED
    assert again.state("b") is BulkState.FAILED
    assert again.state("c") is BulkState.UNKNOWN
    assert again.state("d") is BulkState.UNKNOWN
    assert again.interrupted("d")
    assert not again.interrupted("c")
    entry = again.entry("a")
    assert entry is not None
    assert entry.card is not None
    assert entry.card.key == "KEY-very-secret-0001"
    assert entry.intent == {
        "title": "a",
        "template_id": "255267012439183360",
        "currency": "USDT",
        "amount": "1.5",
    }
    failed = again.entry("b")
    assert failed is not None
    assert failed.error == "InvalidRequestError: nope"
    interrupted = again.entry("d")
    assert interrupted is not None
    assert interrupted.interrupted
    assert "stopped before its answer" in (interrupted.error or "")
    assert again.counts() == {BulkState.ISSUED: 1, BulkState.FAILED: 1, BulkState.UNKNOWN: 2}
    assert list(again) == ["a", "b", "c", "d"]  # journal order
    assert len(again) == 4
    assert "a" in again
    assert "zzz" not in again
    assert "KEY" not in repr(again)


def test_a_recorded_answer_is_decided_again_when_read(reopen: Opener) -> None:
    journal = reopen()
    journal.record_intent("a", request("a"))
    journal.record_answer("a", request("a"), 200, ANSWER)  # then the process died
    journal.record_intent("b", request("b"))
    journal.record_unknown("b", "odd", request("b"), (200, ANSWER))
    journal.close()
    again = reopen()
    for ref in ("a", "b"):
        entry = again.entry(ref)
        assert entry is not None
        assert entry.state is BulkState.ISSUED
        assert entry.recovered
        assert entry.card is not None
        assert entry.card.key == "KEY-9"


def test_issued_is_never_overwritten(reopen: Opener) -> None:
    journal = reopen()
    journal.record_intent("a", request("a"))
    journal.record_issued("a", CARD)
    journal.record_failed("a", "late noise")
    journal.record_unknown("a", "later noise")
    assert journal.state("a") is BulkState.ISSUED
    journal.close()
    again = reopen()
    assert again.state("a") is BulkState.ISSUED
    entry = again.entry("a")
    assert entry is not None
    assert entry.card is not None


def test_a_failed_record_is_sent_again_by_a_later_run(reopen: Opener) -> None:
    first = reopen()
    first.record_intent("old", request("old"))
    first.record_failed("old", "refused")
    first.close()
    second = reopen()
    second.record_intent("old", request("old"))
    second.flush()
    assert second.may_send("old")
    second.record_issued("old", CARD)
    second.close()
    assert reopen().state("old") is BulkState.ISSUED


def _break(location: str, kind: str) -> None:
    """Make the journal's next write fail, for real (another connection drops a table)."""
    if kind == "sqlite":
        database = sqlite3.connect(location.removeprefix("sqlite:///"), timeout=30)
        database.execute("DROP TABLE gatepay_journal_records")
        database.commit()
        database.close()
    else:
        with psycopg.connect(location, autocommit=True) as connection:
            connection.execute("DROP TABLE gatepay_journal_records")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"], indirect=True)
def test_a_failed_flush_stops_the_journal_and_keeps_the_keys(
    reopen: Opener, location: str, kind: str
) -> None:
    journal = reopen()
    journal.record_intent("a", request("a"))
    journal.flush()
    _break(location, kind)
    journal.record_issued("a", {"card_num": "GC1", "card_key": "KEY-1"})
    journal.record_intent("b", request("b"))
    with pytest.raises(JournalError, match="run again with the same journal") as failed:
        journal.flush()
    assert "KEY-1" not in str(failed.value)
    assert journal.failure is failed.value
    with pytest.raises(JournalError):
        journal.record_intent("c", request("c"))  # nothing more may be sent
    with pytest.raises(JournalError):
        journal.flush()  # never retried
    entry = journal.entry("a")
    assert entry is not None
    assert entry.card is not None
    assert entry.card.key == "KEY-1"
    assert [ref for ref, _ in journal.unwritten_cards()] == ["a"]
    journal.close()  # no error: the failure was reported already


def test_a_password_never_reaches_a_journal_error(tmp_path: Path) -> None:
    url = "postgresql://user:hunter2-secret@127.0.0.1:1/nothing?connect_timeout=1"
    with pytest.raises(JournalError) as failed:
        DatabaseJournal.open(url)
    assert "hunter2" not in str(failed.value)
    assert "***" in str(failed.value)


def test_a_password_in_the_query_never_reaches_a_journal_error() -> None:
    """libpq takes a password as a query parameter too (``?password=``, ``sslpassword=``)."""
    url = (
        "postgresql://user@127.0.0.1:1/nothing?connect_timeout=1&password=hunter2-secret"
        "&sslpassword=hunter2-secret2&campaign=c"
    )
    with pytest.raises(JournalError) as failed:
        DatabaseJournal.open(url)
    assert "hunter2" not in str(failed.value)
    assert "***" in str(failed.value)
    assert "hunter2" not in parse_database_url(url, argument="journal").display
    assert "campaign" not in parse_database_url(url, argument="journal").display
    socketless = parse_database_url("postgresql:///db?host=h&password=x", argument="j")
    assert socketless.display == "postgresql:///db?host=h&password=***"


def test_open_journal_takes_a_path_a_url_or_a_journal(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j") as file_journal:
        assert open_journal(file_journal) == (file_journal, False)
    database = DatabaseJournal.open(f"sqlite:///{tmp_path}/j.db?campaign=spring")
    try:
        assert open_journal(database) == (database, False)
        assert database.campaign == "spring"
    finally:
        database.close()
    with pytest.raises(ValueError, match="journal"):
        open_journal(f"sqlite:///{tmp_path}/j.db?campaign=")
    with pytest.raises(ValueError, match="journal"):
        open_journal(42)  # type: ignore[arg-type]


def test_a_worker_opening_a_new_sqlite_campaign_waits_for_a_sibling_creating_it(
    tmp_path: Path,
) -> None:
    # Two workers started together on a new file: one holds a write lock on it (creating
    # the tables) while the other switches it to WAL, which SQLite refuses at once rather
    # than wait. The second must wait its turn, not fail to open.
    path = tmp_path / "campaign.db"
    sibling = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    sibling.execute("BEGIN IMMEDIATE")
    sibling.execute("CREATE TABLE sibling_tables (n INTEGER)")
    commit = threading.Timer(0.3, sibling.execute, args=("COMMIT",))
    commit.start()
    try:
        journal = DatabaseJournal.open(f"sqlite:///{path}?campaign=c1")
        journal.close()
    finally:
        commit.join()
        sibling.close()


# ------------------------------------------------------------------------ claims


@pytest.fixture(params=["sqlite", "postgresql"])
def campaign(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/campaign.db?campaign=c1"
    return str(request.getfixturevalue("postgres_url")) + "?campaign=c1"


def _mine(journal: DatabaseJournal, refs: list[str]) -> set[str]:
    """The refs of ``refs`` this worker may send (claimed, not held elsewhere, not decided)."""
    return {ref for ref in refs if not journal.held_elsewhere(ref) and journal.state(ref) is None}


def test_two_claimers_never_get_the_same_ref(campaign: str) -> None:
    refs = [f"r{i}" for i in range(40)]
    with DatabaseJournal.open(campaign) as one, DatabaseJournal.open(campaign) as two:
        one.claim(refs[:30])
        two.claim(refs[10:])
        first, second = _mine(one, refs[:30]), _mine(two, refs[10:])
        assert first == set(refs[:30])
        assert second == set(refs[30:])
        assert all(two.held_elsewhere(ref) for ref in refs[10:30])
        # A claim for another campaign of the same database is independent.
        other = campaign.replace("campaign=c1", "campaign=c2")
        with DatabaseJournal.open(other) as three:
            three.claim(refs)
            assert _mine(three, refs) == set(refs)


def test_an_expired_claim_is_released_and_its_old_owner_may_not_send(campaign: str) -> None:
    with (
        DatabaseJournal.open(campaign, lease=0.3) as slow,
        DatabaseJournal.open(campaign, lease=30) as other,
    ):
        slow.claim(["a", "b"])
        other.claim(["a", "b"])
        assert other.held_elsewhere("a")  # the lease is live
        time.sleep(0.5)
        other.claim(["a"])  # the lease ran out: released
        assert not other.held_elsewhere("a")
        slow.record_intent("a", request("a"))
        slow.flush()
        assert not slow.may_send("a")  # its claim was taken: never sent by both
        other.record_intent("a", request("a"))
        other.flush()
        assert other.may_send("a")
        slow.record_intent("b", request("b"))  # expired, but nobody took it: still its own
        slow.flush()
        assert slow.may_send("b")


def test_an_intent_is_never_released_by_a_lease(campaign: str) -> None:
    with DatabaseJournal.open(campaign, lease=0.2) as dead:
        dead.claim(["a"])
        dead.record_intent("a", request("a"))
        dead.flush()
        assert dead.may_send("a")
        # The worker dies here, mid-request (closing it only ends claims on rows not sent).
    time.sleep(0.4)
    with DatabaseJournal.open(campaign, lease=0.2) as later:
        later.claim(["a"])
        assert later.held_elsewhere("a")
        assert later.state("a") is BulkState.UNKNOWN
        later.claim(["a"], retry_unknown=True)  # an interrupted intent, not a recorded unknown
        assert later.held_elsewhere("a")


def test_closing_a_worker_releases_the_rows_it_did_not_send(campaign: str) -> None:
    with DatabaseJournal.open(campaign, lease=60) as stopped:
        stopped.claim(["a", "b"])
        stopped.record_intent("a", request("a"))
        stopped.record_issued("a", CARD)
    with DatabaseJournal.open(campaign, lease=60) as next_one:
        next_one.claim(["a", "b"])
        assert not next_one.held_elsewhere("b")
        assert next_one.state("b") is None  # never sent: sent by this one
        assert next_one.state("a") is BulkState.ISSUED


def test_a_row_failed_by_a_sibling_is_not_sent_again_in_its_run(campaign: str) -> None:
    with DatabaseJournal.open(campaign) as one, DatabaseJournal.open(campaign) as two:
        one.claim(["a"])
        one.record_failed("a", "refused")
        one.flush()
        two.claim(["a"])
        assert two.held_elsewhere("a")  # failed after this worker started: not its own
    with DatabaseJournal.open(campaign) as rerun:
        rerun.claim(["a"])
        assert not rerun.held_elsewhere("a")  # a later run sends a failed row again
        assert rerun.state("a") is BulkState.FAILED


def test_release_ends_the_claims_of_dead_workers_at_once(campaign: str) -> None:
    with DatabaseJournal.open(campaign, owner="parent") as parent:
        with DatabaseJournal.open(campaign, owner="parent-1", lease=600) as child:
            child.claim(["a", "b"])
            child.record_intent("a", request("a"))
            child.flush()
            assert parent.release(["parent-1"]) == 1  # b; a's intent stays
        parent.claim(["a", "b"])
        assert parent.held_elsewhere("a")
        assert not parent.held_elsewhere("b")


def test_two_runs_on_one_campaign_split_the_rows_and_send_each_once(campaign: str) -> None:
    import anyio

    from tests._async.conftest import mock_client
    from tests._async.test_bulk import FakeGatePay, specs

    fake = FakeGatePay(latency=0.01)
    rows = specs(120)
    got: list[list[str]] = [[], []]
    elsewhere = [0, 0]

    async def worker(number: int) -> None:
        async with (
            mock_client(fake.handler) as gp,
            gp.gift_cards.create_many(rows, concurrency=6, journal=campaign) as run,
        ):
            async for result in run:
                assert result.state is BulkState.ISSUED
                got[number].append(result.ref)
            elsewhere[number] = run.elsewhere

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(worker, 0)
            group.start_soon(worker, 1)

    anyio.run(main)
    assert sorted(fake.seen) == sorted(row.ref for row in rows)  # each sent once
    assert len(set(fake.seen)) == len(rows)
    handed_out = got[0] + got[1]
    assert all(handed_out.count(ref) >= 1 for ref in fake.seen)
    assert got[0]
    assert got[1]  # both worked
    assert len(got[0]) + elsewhere[0] == len(rows)


def test_a_row_whose_claim_was_taken_before_its_intent_is_not_sent(campaign: str) -> None:
    """A worker whose claims run out while it waits for its turn (rate limit): another
    worker takes them, and the first one's intents are refused, so it sends none of them."""
    import threading

    from gatepay_sync import GatePay
    from tests._async.test_bulk import specs
    from tests._sync.conftest import mock_client as sync_client
    from tests._sync.test_bulk import FakeGatePay as SyncFake

    rows = specs(8)
    refs = [row.ref for row in rows]
    done = threading.Event()

    def thief() -> None:  # another worker, claiming whatever runs out, for ten minutes
        with DatabaseJournal.open(campaign, lease=600) as other:
            while not done.wait(0.01):
                other.claim(refs)

    fake = SyncFake()
    slow = DatabaseJournal.open(campaign, lease=0.001)  # a claim outlives nothing
    thread = threading.Thread(target=thief)
    thread.start()
    try:
        client: GatePay = sync_client(fake.handler)
        with client as gp, gp.gift_cards.create_many(rows, journal=slow, rate=10) as run:
            results = list(run)
            elsewhere = run.elsewhere
    finally:
        done.set()
        thread.join()
        slow.close()
    sent = set(fake.seen)
    assert len(sent) < len(rows)  # the thief took rows before their intents
    assert {result.ref for result in results} == sent
    assert elsewhere == len(rows) - len(sent)
    with DatabaseJournal.open(campaign) as journal:
        for ref in refs:
            assert (journal.state(ref) is BulkState.ISSUED) == (ref in sent)


def test_settling_ended_workers_makes_their_intents_unknown_and_keeps_their_answers(
    campaign: str,
) -> None:
    """Workers known to have ended (``--workers``' children): their intents become
    unknown records, which a later run with retry_unknown may take; a recorded answer
    that holds a card stays a card; a live worker's intent and decided rows are left."""
    with (
        DatabaseJournal.open(campaign, owner="parent") as parent,
        DatabaseJournal.open(campaign, owner="parent-1") as child,
        DatabaseJournal.open(campaign, owner="alive") as alive,
    ):
        child.claim(["a", "b", "c"])
        alive.claim(["d"])
        for ref in ("a", "b", "c"):
            child.record_intent(ref, request(ref))
        child.record_answer("b", request("b"), 200, ANSWER)
        child.record_issued("c", CARD, request("c"))
        alive.record_intent("d", request("d"))
        child.flush()
        alive.flush()
        assert parent.settle_ended(["parent-1"]) == 2  # a and b; c is issued
        assert parent.settle_ended(["parent-1"]) == 0
        assert parent.state("a") is BulkState.UNKNOWN
        entry = parent.entry("a")
        assert entry is not None
        assert entry.error is not None
        assert "stopped before its answer" in entry.error
        assert entry.intent == {
            "title": "a",
            "template_id": "255267012439183360",
            "currency": "USDT",
            "amount": "1.5",
        }
        recovered = parent.entry("b")
        assert recovered is not None
        assert recovered.state is BulkState.ISSUED  # the card in the answer is kept
        assert recovered.card is not None
        assert recovered.card.key == "KEY-9"
        assert parent.entry("c") is not None
        assert parent.state("c") is BulkState.ISSUED
        assert parent.interrupted("d")  # a live worker's intent: never settled here
    time.sleep(0.01)
    with DatabaseJournal.open(campaign) as later:
        later.claim(["a", "d"], retry_unknown=True)
        assert not later.held_elsewhere("a")  # checked by the user: may be sent again
        assert later.held_elsewhere("d")
    with DatabaseJournal.open(campaign) as plain:
        plain.claim(["a"])
        assert not plain.held_elsewhere("a")
        assert plain.state("a") is BulkState.UNKNOWN  # reported, not sent


def test_a_row_decided_in_the_millisecond_a_worker_started_is_a_siblings(
    campaign: str,
) -> None:
    """A row a sibling failed, or left unknown, in the very millisecond this worker
    started belongs to the sibling's run: not sent again here, retry_unknown or not (an
    unknown nobody has checked yet, sent twice, may be a second card)."""
    with DatabaseJournal.open(campaign) as one, DatabaseJournal.open(campaign) as two:
        one.claim(["f", "u"])
        one.record_failed("f", "refused")
        one.record_unknown("u", "OutcomeUnknownError: lost")
        one.flush()
        url = campaign.split("?", 1)[0]
        # The same millisecond on the database's clock, made certain.
        started = two._started_ms
        sql = "UPDATE gatepay_journal_refs SET decided_at = %s WHERE ref IN ('f', 'u')"
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
                connection.execute(sql.replace("%s", "?"), (started,))
            connection.close()
        else:
            with psycopg.connect(url) as pg:
                pg.execute(sql, (started,))
        two.claim(["f", "u"], retry_unknown=True)
        assert two.held_elsewhere("f")
        assert two.held_elsewhere("u")


def test_a_worker_given_its_runs_start_never_sends_a_siblings_fresh_unknown(
    campaign: str,
) -> None:
    """``--workers`` gives its children its own start: a child that opens its journal
    after a sibling's row ended unknown (or failed) in this run never sends that row,
    even with retry_unknown (nobody has checked it: sent again, it may be a second
    card). Before, each child's own start was the cutoff."""
    with DatabaseJournal.open(campaign) as first:
        start = first.started_ms
        time.sleep(0.01)
        first.claim(["u", "f"])
        first.record_unknown("u", "OutcomeUnknownError: answer lost")
        first.record_failed("f", "refused")
        first.flush()
        time.sleep(0.01)
        with DatabaseJournal.open(campaign, started_ms=start) as late:
            assert late.started_ms == start
            late.claim(["u", "f"], retry_unknown=True)
            assert late.held_elsewhere("u")
            assert late.held_elsewhere("f")


def test_a_worker_started_by_hand_later_never_sends_a_running_siblings_fresh_unknown(
    campaign: str,
) -> None:
    """Workers started by hand (several hosts, no ``--workers`` parent) share a start: the
    earliest of the campaign's running workers. A worker started after a sibling's row
    ended unknown never sends it, even with retry_unknown, while that sibling runs (an
    answer lost a moment ago has been checked by nobody); once the sibling has ended, a
    later run with retry_unknown may send it, as a rerun of one process may."""
    with DatabaseJournal.open(campaign) as first:
        time.sleep(0.01)
        first.claim(["u"])
        first.record_intent("u", request("u"))
        first.flush()
        first.record_unknown("u", "OutcomeUnknownError: answer lost")
        first.flush()
        time.sleep(0.01)
        with DatabaseJournal.open(campaign) as late:  # no start given: started by hand
            assert late.started_ms <= first.started_ms
            late.claim(["u"], retry_unknown=True)
            assert late.held_elsewhere("u")
            assert "u" not in _mine(late, ["u"])
    time.sleep(0.01)
    with DatabaseJournal.open(campaign) as rerun:  # the campaign's workers have ended
        rerun.claim(["u"], retry_unknown=True)
        assert not rerun.held_elsewhere("u")
        assert rerun.state("u") is BulkState.UNKNOWN


def test_the_file_journals_index_runs_on_pythons_to_come() -> None:
    # Python 3.12's first releases warn on numbered SQLite placeholders given as a
    # sequence: every record of a file journal warned (thousands per test run), and a
    # program that turns warnings into errors would stop its run.
    index = _RefIndex()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index.record("r1", "intent", 0)
        index.record_many([("r1", "issued", 10), ("r2", "intent", 20), ("r1", "failed", 30)])
    assert index.get("r1") == ("issued", 10)
    assert index.get("r2") == ("intent", 20)
