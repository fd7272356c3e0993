"""Array literals read back by PostgreSQL as the values they were built from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.pg_arrays import bool_array, int_array, numeric_array, text_array, timestamp_array
from tests.servers import Postgres

# Any text PostgreSQL can hold (no NUL) and UTF-8 can carry (no lone surrogates).
TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]))


@pytest.fixture(scope="module")
def pg(postgres: Postgres) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    url = postgres.create_database("pg_arrays").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def _back(conn: psycopg.Connection[tuple[object, ...]], literal: str, kind: str) -> object:
    row = conn.execute(f"SELECT %s::{kind}[]", [literal]).fetchone()
    assert row is not None
    return row[0]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), TEXT), max_size=20))
def test_any_strings_come_back_as_they_went(
    pg: psycopg.Connection[tuple[object, ...]], values: list[str | None]
) -> None:
    assert _back(pg, text_array(values), "varchar") == values


def test_the_characters_of_the_array_syntax_are_data(
    pg: psycopg.Connection[tuple[object, ...]],
) -> None:
    tricky = ["", "NULL", "null", 'a"b', "a\\b", "{x,y}", " spaced ", "a,b", "é€😀", "line\nnext"]
    assert _back(pg, text_array([*tricky, None]), "text") == [*tricky, None]


def test_numbers_booleans_and_times_come_back_exactly(
    pg: psycopg.Connection[tuple[object, ...]],
) -> None:
    assert _back(pg, int_array([0, -5, 2**40, None]), "bigint") == [0, -5, 2**40, None]
    amounts = [Decimal("0.012500"), Decimal("-3"), Decimal("123456.000001"), None]
    assert _back(pg, numeric_array(amounts), "numeric") == amounts
    assert _back(pg, bool_array([True, False, None]), "boolean") == [True, False, None]
    naive = datetime(2026, 12, 1, 20, 0, 0, 123456)
    aware = datetime(2026, 12, 1, 22, 0, 0, 1, tzinfo=timezone(timedelta(hours=2)))
    # an aware time is read as the UTC instant it names, never with its offset dropped
    assert _back(pg, timestamp_array([naive, aware, None]), "timestamp") == [
        naive,
        aware.astimezone(UTC).replace(tzinfo=None),
        None,
    ]


def test_an_amount_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        numeric_array([Decimal("NaN")])
