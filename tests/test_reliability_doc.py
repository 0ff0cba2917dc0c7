"""The published tables are the ones the code and the tests use: the retry matrix the
fault tests run, and the outcome decision of a create."""

from __future__ import annotations

from pathlib import Path

from gatepay_async._decision.outcome import BODY_KINDS, DECISIONS, LOST_ANSWERS, STATUS_CLASSES
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


def _section(title: str) -> list[str]:
    """The lines of the doc section headed ``## title``, up to the next section."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), None)
    return lines[start + 1 : end]


def _table_rows(lines: list[str], header_start: str) -> list[list[str]]:
    """The cells of each body row of the table whose header starts ``header_start``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_doc_has_no_row_the_tests_do_not_run() -> None:
    table = [
        line
        for line in _section("The retry matrix")
        if line.startswith("| ") and not line.startswith("| fault") and "---" not in line
    ]
    assert len(table) == len(MATRIX)


def test_the_outcome_table_is_the_codes_decision_table() -> None:
    lines = _section("The outcome of a create")
    header = next(line for line in lines if line.startswith("| HTTP status |"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == list(BODY_KINDS)
    published = {
        (row[0], kind): outcome
        for row in _table_rows(lines, "| HTTP status |")
        for kind, outcome in zip(BODY_KINDS, row[1:], strict=True)
    }
    in_code = {key: outcome.value for key, outcome in DECISIONS.items()}
    assert published == in_code
    assert {status for status, _ in published} == set(STATUS_CLASSES)


def test_the_no_answer_table_is_the_codes() -> None:
    rows = _table_rows(_section("The outcome of a create"), "| no answer |")
    assert dict(map(tuple, rows)) == {k: v.value for k, v in LOST_ANSWERS.items()}
