"""The published retry matrix is the one the fault tests run."""

from __future__ import annotations

from pathlib import Path

from tests.fault_matrix import MATRIX, OK, Row

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def _cell(outcome: str) -> str:
    return "ok" if outcome == OK else f"`{outcome}`"


def _expected_line(row: Row) -> str:
    cards = str(row.create_cards) if row.create_cards is not None else None
    cells = [
        row.name,
        str(row.read_attempts),
        _cell(row.read_outcome),
        str(row.create_attempts),
        _cell(row.create_outcome),
    ]
    return "| " + " | ".join(cells) + " | " + (cards + " |" if cards is not None else "")


def test_every_matrix_row_is_published_as_tested() -> None:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    for row in MATRIX:
        prefix = _expected_line(row)
        assert any(line.startswith(prefix) for line in lines), f"docs row missing: {prefix}"


def test_the_doc_has_no_row_the_tests_do_not_run() -> None:
    table = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith("| fault") and "---" not in line
    ]
    assert len(table) == len(MATRIX)
