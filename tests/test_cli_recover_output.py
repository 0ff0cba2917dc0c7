"""``bulk-create`` takes back from the old output the cards its journal could not record,
whichever of --spreadsheet-safe / --raw-cells wrote that output and whichever this run
uses: a key never enters the journal with a spreadsheet's quote mark, and a ref that
really starts with ``'`` is not mistaken for another. The old outputs here are written
by hand, as a run of the same journal writes them (``OUT.campaign`` beside: see
``test_bulk_recovery_origin`` for outputs of other campaigns)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gatepay_async._storage.journal import Journal
from gatepay_async._wire.validation import build_create_request
from gatepay_async.cli._csv_io import OUTPUT_COLUMNS, recover_from_output, spreadsheet_cell
from gatepay_async.cli._output_origin import seal, sha256_of
from gatepay_async.sandbox import SandboxServer
from tests.test_cli import TEMPLATE_ID, invoke
from tests.test_cli import env as env
from tests.test_cli import server as server

#: (ref, card number, key): a formula-like ref, a ref that starts with a quote, a plain
#: one; keys that start with formula characters (GatePay's keys are base64: + is common).
CARDS = [
    ("=r0", "1000000000000001", "+K0abc/="),
    ("'r1", "1000000000000002", "-K1"),
    ("r2", "1000000000000003", "K2+"),
]


def sealed(path: Path, campaign_id: str) -> None:
    """Mark the output at ``path`` as written from the journal of ``campaign_id`` (as
    ``write_output`` does)."""
    with path.open("rb") as handle:
        seal(path, campaign_id, sha256_of(handle))


def _interrupted_journal(path: Path) -> str:
    """A journal whose creates were sent but whose outcomes it could not record; its
    campaign id."""
    journal = Journal.open(path)
    with journal:
        for ref, _, _ in CARDS:
            request = build_create_request(
                title=f"t-{ref}", template_id=TEMPLATE_ID, currency="USDT", amount="1"
            )
            journal.record_intent(ref, request)
        journal.flush()
    return journal.campaign_id


def _old_output(path: Path, *, safe: bool, campaign_id: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        for ref, number, key in CARDS:
            line = [ref, "issued", number, key, "PENDING_PAYMENT", "1", "USDT", ""]
            writer.writerow([spreadsheet_cell(c) for c in line] if safe else line)
    sealed(path, campaign_id)


@pytest.mark.parametrize("first_safe", [True, False], ids=["safe-first", "raw-first"])
def test_recovery_reads_either_kind_of_output(tmp_path: Path, first_safe: bool) -> None:
    campaign_id = _interrupted_journal(tmp_path / "j")
    _old_output(tmp_path / "out.csv", safe=first_safe, campaign_id=campaign_id)
    journal = Journal.open(tmp_path / "j")
    with journal:
        assert recover_from_output(tmp_path / "out.csv", journal) == len(CARDS)
        for ref, number, key in CARDS:
            entry = journal.entry(ref)
            assert entry is not None
            assert entry.card is not None
            assert (entry.card.card_number, entry.card.key) == (number, key)


def test_an_ambiguous_ref_is_not_guessed(tmp_path: Path) -> None:
    """'=x in a raw output, with both '=x and =x waiting: neither is taken."""
    journal = Journal.open(tmp_path / "j")
    with journal:
        for ref in ("'=x", "=x"):
            request = build_create_request(
                title="t", template_id=TEMPLATE_ID, currency="USDT", amount="1"
            )
            journal.record_intent(ref, request)
        out = tmp_path / "out.csv"
        out.write_text(",".join(OUTPUT_COLUMNS) + "\n'=x,issued,1,K,,1,USDT,\n", "utf-8")
        sealed(out, journal.campaign_id)  # trusted: only the ambiguity keeps it out
        assert recover_from_output(out, journal) == 0


@pytest.mark.parametrize("first_safe", [True, False], ids=["safe-first", "raw-first"])
@pytest.mark.parametrize("rerun_safe", [True, False], ids=["safe-rerun", "raw-rerun"])
def test_bulk_create_rerun_with_the_other_flag_keeps_every_key_exactly(
    env: dict[str, str],
    server: SandboxServer,
    tmp_path: Path,
    first_safe: bool,
    rerun_safe: bool,
) -> None:
    journal, out = tmp_path / "run.journal", tmp_path / "out.csv"
    campaign_id = _interrupted_journal(journal)
    _old_output(out, safe=first_safe, campaign_id=campaign_id)
    rows = [[ref, f"t-{ref}", TEMPLATE_ID, "USDT", "1"] for ref, _, _ in CARDS]
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["ref", "title", "template_id", "currency", "amount"], *rows])
    before = server.sandbox.attempts("create")
    flag = "--spreadsheet-safe" if rerun_safe else "--raw-cells"
    args = ["bulk-create", str(source), "--out", str(out), "--journal", str(journal), flag]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert server.sandbox.attempts("create") == before  # nothing sent
    with out.open(newline="", encoding="utf-8") as handle:
        written = list(csv.reader(handle))[1:]
    expected = [[ref, "issued", number, key] for ref, number, key in CARDS]
    if rerun_safe:
        expected = [[spreadsheet_cell(c) for c in line] for line in expected]
    assert [line[:4] for line in written] == expected
