"""Templates: the batch API's {{placeholders}}, a missing value fails only its recipient."""

from __future__ import annotations

import pytest

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
