"""Templates: the batch API's {{placeholders}}, a missing value fails only its recipient."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns import Template, TemplateInvalid, TemplateUnknownVariable
from messaging import MissingVariable


def test_placeholders_are_rendered_and_other_braces_are_text() -> None:
    template = Template.parse("Hi {{first_name}}, {{ pct }}% off, {{first_name}}! {} {1} :-}")
    assert template.fields == ("first_name", "pct")
    assert template.render({"first_name": "Ann", "pct": "20"}) == (
        "Hi Ann, 20% off, Ann! {} {1} :-}"
    )


@pytest.mark.parametrize("values", [{}, {"first_name": ""}])
def test_a_missing_or_empty_value_is_an_error_for_that_recipient(values: dict[str, str]) -> None:
    with pytest.raises(MissingVariable) as caught:
        Template.parse("Hi {{first_name}}").render(values)
    assert caught.value.name == "first_name"


@pytest.mark.parametrize("text", ["Hi {first_name}", "Hi { name }", "  ", "x" * 1601])
def test_single_brace_placeholders_and_empty_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateInvalid):
        Template.parse(text)


def test_the_single_brace_refusal_says_how_to_write_it() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        Template.parse("Hi {first_name}, 20% off")
    assert "{{first_name}}" in str(caught.value)


def test_a_placeholder_no_column_has_is_named_with_the_columns_there_are() -> None:
    with pytest.raises(TemplateUnknownVariable) as caught:
        Template.parse("Hi {{first_name}} {{city}}").check_known(["to", "city"])
    assert caught.value.names == ("first_name",)
    assert "to, city" in str(caught.value)


@given(
    st.lists(st.text(alphabet="ab {}%:-!", max_size=6), min_size=1, max_size=4),
    st.lists(st.text(alphabet="xy{}0", min_size=1, max_size=5), min_size=3, max_size=3),
)
def test_the_compiled_fill_renders_as_render_does(literals: list[str], values: list[str]) -> None:
    names = ("a", "b", "a")  # a name used twice
    text = "".join(lit + "{{" + names[i % 3] + "}}" for i, lit in enumerate(literals))
    try:
        template = Template.parse(text + literals[0])
    except TemplateInvalid:
        return  # a literal that reads as a single-brace placeholder, or blank: refused anyway
    by_name = {"a": values[0], "b": values[1]}
    assert template.fill([by_name[n] for n in template.fields]) == template.render(by_name)
