"""Templates: fields, literal braces, a missing value fails only its recipient."""

from __future__ import annotations

import pytest

from campaigns import MissingVariable, Template, TemplateInvalid, TemplateUnknownVariable


def test_fields_are_rendered_and_double_braces_are_literal() -> None:
    template = Template.parse("Hi {first_name}, {{code}} {pct}% off, {first_name}!")
    assert template.fields == ("first_name", "pct")
    assert template.render({"first_name": "Ann", "pct": "20"}) == "Hi Ann, {code} 20% off, Ann!"


@pytest.mark.parametrize("values", [{}, {"first_name": ""}])
def test_a_missing_or_empty_value_is_an_error_for_that_recipient(values: dict[str, str]) -> None:
    with pytest.raises(MissingVariable) as caught:
        Template.parse("Hi {first_name}").render(values)
    assert caught.value.name == "first_name"


@pytest.mark.parametrize(
    "text", ["Hi {", "Hi }", "{x!r}", "{x:>5}", "{0}", "{a.b}", "  ", "x" * 1601]
)
def test_templates_that_are_not_plain_fields_are_refused(text: str) -> None:
    with pytest.raises(TemplateInvalid):
        Template.parse(text)


def test_a_field_no_column_has_is_named_with_the_columns_there_are() -> None:
    with pytest.raises(TemplateUnknownVariable) as caught:
        Template.parse("Hi {first_name} {city}").check_known(["to", "city"])
    assert caught.value.names == ("first_name",)
    assert "to, city" in str(caught.value)
