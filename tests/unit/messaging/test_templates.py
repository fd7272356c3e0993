"""Templates: `{{name}}` filled per recipient; a missing variable is the recipient's error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging import InvalidInput, MissingVariable, fill_template, placeholders


def test_placeholders_are_filled_with_and_without_spaces() -> None:
    body = "Hi {{name}}, your order {{ order }} ships {{name}}-day"
    assert (
        fill_template(body, {"name": "Ann", "order": 42}) == "Hi Ann, your order 42 ships Ann-day"
    )


def test_a_body_without_placeholders_is_left_as_is_and_unused_variables_are_ignored() -> None:
    assert fill_template("Hello {name} {{ }} {{1x}}", {"name": "x"}) == "Hello {name} {{ }} {{1x}}"


def test_a_missing_variable_names_itself_and_the_variables_field() -> None:
    with pytest.raises(MissingVariable) as caught:
        fill_template("Hi {{name}}, code {{code}}", {"name": "Ann"})
    assert caught.value.code == "missing_variable"
    assert caught.value.field == "variables" and "{{code}}" in caught.value.reason


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_values_must_be_strings_or_numbers(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        fill_template("{{x}}", {"x": value})
    assert not isinstance(caught.value, MissingVariable) and caught.value.field == "variables"


def test_placeholders_lists_each_name_once_in_order() -> None:
    assert placeholders("{{b}} {{a}} {{ b }}") == ["b", "a"]


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@given(st.dictionaries(_names, st.text(alphabet="abc xyz{}", max_size=10), min_size=1))
def test_filling_every_placeholder_leaves_no_placeholder_of_those_names(
    variables: dict[str, str],
) -> None:
    template = " ".join(f"[{{{{{name}}}}}]" for name in variables)
    filled = fill_template(template, variables)
    assert filled == " ".join(f"[{value}]" for value in variables.values())
