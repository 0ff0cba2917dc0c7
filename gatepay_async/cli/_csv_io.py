"""The bulk-create files: the input CSV (streamed) and the output CSV (from the journal)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from gatepay_async._bulk_models import BulkState, CardSpec
from gatepay_async._bulk_plan import changed_fields, changed_text
from gatepay_async._journal import FILE_MODE, Journal, JournalEntry

__all__ = [
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "InputError",
    "read_specs",
    "scan_input",
    "write_output",
]

INPUT_COLUMNS = ("ref", "title", "template_id", "currency", "amount")
OUTPUT_COLUMNS = ("ref", "state", "card_number", "key", "status", "amount", "currency", "error")
NOT_ATTEMPTED = "not attempted yet (the run stopped before this row): run again"
EMPTY_REF = "ref: must not be empty"


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


def write_output(input_path: Path, out_path: Path, journal: Journal) -> Counter[str]:
    """Write one output row per input row, in input order, from the journal (mode 0600).

    The file is written beside ``out_path`` and renamed over it, so a reader never sees
    half of it. Returns how many rows are in each state, and under ``"changed"`` how many
    rows differ from what the journal recorded as sent for their ref.
    """
    counts: Counter[str] = Counter()
    temporary = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(OUTPUT_COLUMNS)
            for row in _rows(input_path):
                line, changed = _output_row(row, journal)
                counts[line[1]] += 1
                counts["changed"] += changed
                writer.writerow(line)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, out_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return counts


def _output_row(row: dict[str, str], journal: Journal) -> tuple[list[str], bool]:
    """The output row, and whether the input row changed since its ref was sent."""
    ref = row["ref"]
    entry = journal.entry(ref) if ref else None
    if entry is None:
        error = EMPTY_REF if not ref else NOT_ATTEMPTED
        return [
            ref,
            BulkState.FAILED.value,
            "",
            "",
            "",
            row["amount"],
            row["currency"],
            error,
        ], False
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


def _changed(row: dict[str, str], entry: JournalEntry) -> str:
    """Why this row is flagged, if it differs from what was sent for its ref ('' if not)."""
    if entry.state is BulkState.FAILED:
        return ""  # a failed row is sent again as it is now
    spec = CardSpec(ref=row["ref"], **{name: row[name] for name in INPUT_COLUMNS[1:]})
    fields = changed_fields(entry.intent, spec)
    return changed_text(fields, entry.state) if fields else ""
