"""The bulk-create files: the input CSV (streamed) and the output CSV (from the journal)."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import stat
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from gatepay_async._bulk.plan import changed_fields, changed_text
from gatepay_async._bulk_models import BulkState, CardSpec
from gatepay_async._models import GiftCardStatus
from gatepay_async._storage.journal import FILE_MODE, JournalEntry
from gatepay_async._storage.journal_store import JournalStore
from gatepay_async.cli._output_origin import origin_path, seal, sha256_of, untrusted_reason

__all__ = [
    "INPUT_COLUMNS",
    "NOT_ATTEMPTED_STATE",
    "NOT_IN_INPUT",
    "OUTPUT_COLUMNS",
    "InputError",
    "check_paths",
    "plain_cell",
    "read_specs",
    "recover_from_output",
    "scan_input",
    "spreadsheet_cell",
    "write_output",
]

INPUT_COLUMNS = ("ref", "title", "template_id", "currency", "amount")
OUTPUT_COLUMNS = ("ref", "state", "card_number", "key", "status", "amount", "currency", "error")
#: The output's state for a row the run never reached (stopped, interrupted): nothing
#: was sent for it, nothing is wrong with it; running again sends it.
NOT_ATTEMPTED_STATE = "not_attempted"
NOT_ATTEMPTED = "not attempted yet (the run stopped before this row): run again"
EMPTY_REF = "ref: must not be empty"
#: Output rows whose refs are read from the journal at once (one query for a database).
PREFETCH_ROWS = 500
#: The error column of a journal ref the input no longer has: its row is kept, so that an
#: issued card's key is not dropped from the output by an edit of the input.
NOT_IN_INPUT = "not in the input any more: kept from the journal"


#: What a spreadsheet takes for the start of a formula (or, for tab and CR, a cell break
#: that can hide one): OWASP's list for CSV injection.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Cells given a leading quote: formula starts, and a quote itself, so that the mark can
#: always be taken off again (:func:`plain_cell`) without guessing.
_QUOTED_STARTS = (*FORMULA_STARTS, "'")


def spreadsheet_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it as text: a leading ``'`` when it would
    otherwise be read as a formula (or already starts with ``'``). Anything else is
    returned unchanged."""
    return "'" + value if value.startswith(_QUOTED_STARTS) else value


def plain_cell(cell: str) -> str:
    """The value :func:`spreadsheet_cell` was given: its leading ``'`` taken off."""
    return cell[1:] if cell.startswith("'") else cell


class InputError(Exception):
    """The input file cannot be used at all (missing columns, duplicate refs...)."""


def _open(path: Path) -> IO[str]:
    try:
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _rows(path: Path) -> Iterator[dict[str, str]]:
    """Each data row as column -> stripped text ('' for a missing cell)."""
    with _open(path) as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INPUT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(
                f"{path}: missing column(s) {', '.join(missing)}; the header must name "
                + ",".join(INPUT_COLUMNS)
            )
        try:
            for row in reader:
                yield {c: (row.get(c) or "").strip() for c in INPUT_COLUMNS}
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}, line {reader.line_num}: {exc}") from None


def scan_input(path: Path) -> int:
    """Check the whole input before anything is sent; return its number of rows.

    Raises InputError for missing columns, undecodable text, or a ref used twice.
    """
    seen: dict[str, int] = {}
    count = 0
    for count, row in enumerate(_rows(path), start=1):
        ref = row["ref"]
        if not ref:
            continue
        first = seen.setdefault(ref, count)
        if first != count:
            raise InputError(
                f"{path}: ref {ref!r} is used by rows {first} and {count}; refs must be"
                " unique (nothing was sent)"
            )
    return count


def read_specs(path: Path) -> Iterator[CardSpec]:
    """The rows as CardSpecs, streamed. Values are checked by create_many, row by row."""
    for row in _rows(path):
        yield CardSpec(
            ref=row["ref"],
            title=row["title"],
            template_id=row["template_id"],
            currency=row["currency"],
            amount=row["amount"],
        )


def _identity(path: Path) -> tuple[int, int] | str:
    """What ``path`` names: (device, inode) if it exists (through links), else its real path."""
    try:
        info = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return info.st_dev, info.st_ino


def check_paths(input_path: Path, out_path: Path, journal_path: Path | None) -> None:
    """Refuse files that are one another, or an output that cannot be written.

    Runs before anything is sent. The journal must not be the input or the output (the
    output would overwrite it and the next run would issue every card again), and the
    output must not be the input. Files are compared by device and inode, so symbolic
    and hard links to one file are caught. The output must not be a symbolic link, and
    its directory must take a new file (written, then renamed over the output).
    """
    names = {
        "input": input_path,
        "output (--out)": out_path,
        "output's campaign file": origin_path(out_path),  # written beside the output
        "journal (--journal)": journal_path,
    }
    seen: dict[tuple[int, int] | str, str] = {}
    for role, path in names.items():
        if path is None:  # a journal in a PostgreSQL database
            continue
        other = seen.setdefault(_identity(path), role)
        if other != role:
            raise InputError(
                f"the {role} {path} is the same file as the {other}; use separate files"
                " (nothing was sent)"
            )
    if out_path.is_symlink():
        raise InputError(
            f"the output {out_path} is a symbolic link; pass the file it points to"
            " (nothing was sent)"
        )
    if out_path.exists() and not stat.S_ISREG(out_path.stat().st_mode):
        raise InputError(f"the output {out_path} is not a regular file (nothing was sent)")
    try:
        fd, probe = _temporary(out_path)
    except OSError as exc:
        raise InputError(
            f"cannot write the output {out_path}: {exc.strerror or exc} (nothing was sent)"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _temporary(out_path: Path) -> tuple[int, str]:
    """A new file beside ``out_path``, created exclusively (never through a link), 0600."""
    directory = out_path.parent if str(out_path.parent) else Path(".")
    return tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=directory)


def write_output(
    input_path: Path, out_path: Path, journal: JournalStore, *, spreadsheet_safe: bool = False
) -> Counter[str]:
    """Write one output row per input row, in input order, from the journal (mode 0600).

    ``spreadsheet_safe`` passes every cell through :func:`spreadsheet_cell`.

    Refs the journal has and the input no longer has (a row deleted after it was sent)
    follow the input's rows, in journal order, with their state, card and key, and the
    error :data:`NOT_IN_INPUT`; they are counted under ``"kept"`` only.

    The file is created exclusively beside ``out_path`` and renamed over it, so a reader
    never sees half of it and no link planted at the temporary name is followed. Then
    ``OUT.campaign`` is written beside it: the journal's campaign id and the output's
    digest (``_output_origin``), so that only a run of this journal ever reads its cards
    back. The output comes first: it may hold keys the journal could not record. A
    ``OUT.campaign`` that cannot be written leaves the output untrusted, never wrong.
    Returns how many rows are in each state, and under ``"changed"`` how many rows
    differ from what the journal recorded as sent for their ref.
    """
    counts: Counter[str] = Counter()
    refs: set[str] = set()
    fd, name = _temporary(out_path)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(OUTPUT_COLUMNS)
            for rows in _chunks(_rows(input_path), PREFETCH_ROWS):
                journal.prefetch([row["ref"] for row in rows if row["ref"]])
                for row in rows:
                    refs.add(row["ref"])
                    line, changed = _output_row(row, journal)
                    counts[line[1]] += 1
                    counts["changed"] += changed
                    cells = [spreadsheet_cell(c) for c in line] if spreadsheet_safe else line
                    writer.writerow(cells)
            for line in (_kept_row(ref, journal) for ref in journal if ref not in refs):
                counts["kept"] += 1
                writer.writerow([spreadsheet_cell(c) for c in line] if spreadsheet_safe else line)
            handle.flush()
            os.fsync(handle.fileno())
        with temporary.open("rb") as written:
            digest = sha256_of(written)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, out_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # then the output is not trusted (see above)
        seal(out_path, journal.campaign_id, digest)
    return counts


def _chunks(rows: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    chunk: list[dict[str, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _unquoted(cell: str) -> str:
    """``cell`` with the quote mark a spreadsheet-safe output adds taken off, whatever the
    flags of this run: the output may have been written by a run with the other flag.

    :func:`spreadsheet_cell` adds exactly one ``'`` before a cell starting with a formula
    character or ``'``, so ``'`` followed by one of those is taken off. Assumption: no
    value of a recovered card starts that way in a raw output (GatePay issues no card
    number or key starting with ``'``; amounts, currencies and status names do not
    either). A ref might: :func:`_recovered_ref` tries both readings of a ref.
    """
    if cell[:1] == "'" and cell[1:2] and cell[1:].startswith(_QUOTED_STARTS):
        return cell[1:]
    return cell


def _recovered_ref(cell: str, journal: JournalStore) -> str | None:
    """The ref of an output row whose card the journal could not record, if exactly one
    reading of the cell (as written raw, or spreadsheet-safe) is such a ref."""
    readings = {cell, _unquoted(cell)}
    matches = [ref for ref in readings if ref and journal.interrupted(ref)]
    return matches[0] if len(matches) == 1 else None  # two: ambiguous, never guess


def recover_from_output(out_path: Path, journal: JournalStore) -> int:
    """Take back from an earlier output the cards its journal could not record.

    When a journal write failed (disk full), the cards issued meanwhile were written to
    the output (and the terminal) but not to the journal, which reads them as unknown:
    without this, the next run would rewrite the output and lose their keys. Only refs
    whose last journal record is their intent (sent, outcome never recorded) are taken,
    so nothing can be issued twice, and only from an output written from this journal
    (``_output_origin``): another campaign's output at the same path (or an older
    version's, or one edited since) is refused with a message on stderr, and its rows
    stay unknown, to be looked up. The output may have been written spreadsheet-safe or
    with raw cells, whatever this run's flag: quote marks are taken off by what the cell
    holds (:func:`_unquoted`). Returns how many were recorded.
    """
    if not out_path.is_file() or out_path.is_symlink():
        return 0
    recovered = refused = 0
    reason: str | None = None
    try:
        with out_path.open("rb") as raw:
            reason = untrusted_reason(out_path, raw, journal.campaign_id)
            raw.seek(0)
            with io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
                for ref, card in _cards_in_doubt(handle, journal):
                    if reason is not None:
                        refused += 1
                        continue
                    journal.record_issued(ref, card)
                    recovered += 1
    except (OSError, csv.Error, UnicodeDecodeError):
        pass  # an unreadable old output holds nothing more to take back
    if refused:
        sys.stderr.write(
            f"gatepay: not taking {refused} card(s) back from {out_path} into the journal:"
            f" {reason}. Their rows stay unknown: look them up in your GatePay records"
            " before anything else (a card may exist for each).\n"
        )
    if recovered:
        journal.flush()
    return recovered


def _cards_in_doubt(
    handle: IO[str], journal: JournalStore
) -> Iterator[tuple[str, dict[str, object]]]:
    """(ref, card data) of each issued row of an output whose ref the journal has in
    doubt (sent, outcome never recorded)."""
    for cells in csv.DictReader(handle):
        row = {name: _unquoted(cell or "") for name, cell in cells.items()}
        number, key = row.get("card_number") or "", row.get("key") or ""
        if row.get("state") != BulkState.ISSUED.value or not (number and key):
            continue
        ref = _recovered_ref(cells.get("ref") or "", journal)
        if ref is None:
            continue
        card: dict[str, object] = {
            "card_num": number,
            "card_key": key,
            "recovered_from": "output",
        }
        for field in ("amount", "currency"):
            if row.get(field):
                card[field] = row[field]
        status = GiftCardStatus.__members__.get(row.get("status") or "")
        if status is not None:
            card["status"] = status.value
        yield ref, card


def _output_row(row: dict[str, str], journal: JournalStore) -> tuple[list[str], bool]:
    """The output row, and whether the input row changed since its ref was sent."""
    ref = row["ref"]
    entry = journal.entry(ref) if ref else None
    if entry is None:
        state, error = (
            (BulkState.FAILED.value, EMPTY_REF) if not ref else (NOT_ATTEMPTED_STATE, NOT_ATTEMPTED)
        )
        return [ref, state, "", "", "", row["amount"], row["currency"], error], False
    changed = _changed(row, entry)
    card = entry.card
    if entry.state is BulkState.ISSUED and card is not None:
        amount = format(card.amount, "f") if card.amount is not None else row["amount"]
        return [
            ref,
            entry.state.value,
            card.card_number,
            card.key,
            card.status.name,
            amount,
            card.currency or row["currency"],
            changed,
        ], bool(changed)
    error = "; ".join(text for text in (changed, entry.error or "") if text)
    return [
        ref,
        entry.state.value,
        "",
        "",
        "",
        row["amount"],
        row["currency"],
        error,
    ], bool(changed)


def _kept_row(ref: str, journal: JournalStore) -> list[str]:
    """The output row of a journal ref that is not in the input: what the journal has."""
    entry = journal.entry(ref)
    if entry is None:  # pragma: no cover - every ref listed by the journal has an entry
        return [ref, NOT_ATTEMPTED_STATE, "", "", "", "", "", NOT_IN_INPUT]
    intent = entry.intent or {}
    card = entry.card
    if entry.state is BulkState.ISSUED and card is not None:
        amount = format(card.amount, "f") if card.amount is not None else intent.get("amount", "")
        return [
            ref,
            entry.state.value,
            card.card_number,
            card.key,
            card.status.name,
            amount,
            card.currency or intent.get("currency", ""),
            NOT_IN_INPUT,
        ]
    error = "; ".join(text for text in (NOT_IN_INPUT, entry.error or "") if text)
    amount, currency = intent.get("amount", ""), intent.get("currency", "")
    return [ref, entry.state.value, "", "", "", amount, currency, error]


def _changed(row: dict[str, str], entry: JournalEntry) -> str:
    """Why this row is flagged, if it differs from what was sent for its ref ('' if not)."""
    if entry.state is BulkState.FAILED:
        return ""  # a failed row is sent again as it is now
    spec = CardSpec(ref=row["ref"], **{name: row[name] for name in INPUT_COLUMNS[1:]})
    fields = changed_fields(entry.intent, spec)
    return changed_text(fields, entry.state) if fields else ""
