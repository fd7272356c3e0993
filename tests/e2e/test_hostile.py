"""Every hostile case of `bench/hostile.py` against a real API process, on each backend.

The script is the list (it prints the table docs/security.md holds); this test runs it in
`make test`, so a case whose answer changes fails here rather than rotting in a bench.
"""

from __future__ import annotations

from pathlib import Path

from bench.hostile import Expected, Row, run


def test_every_hostile_case_gets_its_expected_answer_and_stores_what_it_should(
    tmp_path: Path, database_url: str
) -> None:
    rows = run(tmp_path, database_url)
    assert len(rows) >= 90  # the list did not shrink
    assert [r.line() for r in rows if not r.ok] == []
    # the cases that must store nothing are most of them, and did
    assert sum(r.stored == "nothing" for r in rows) >= 75


def test_an_answer_other_than_the_expected_one_is_a_wrong_row() -> None:
    expected = Expected(422, "callback_url_forbidden")
    assert Row("POST /v1/messages", 422, "callback_url_forbidden", "nothing", expected).ok
    stored = Row("POST /v1/messages", 422, "callback_url_forbidden", "messages +1", expected)
    other_code = Row("POST /v1/messages", 422, "invalid_input", "nothing", expected)
    assert not stored.ok and not other_code.ok and "**WRONG**" in other_code.line()
    assert Row("race", "1 fresh", "3x409", "nothing", Expected("1 fresh", None)).ok
