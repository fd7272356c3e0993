"""Message templates: `{{name}}` placeholders in a body, filled per recipient (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from messaging.errors import InvalidInput

# `{{name}}` or `{{ name }}`; a name is an identifier. Anything else between braces is text.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

Variable = str | int | float


class MissingVariable(InvalidInput):
    """A template names a variable the recipient has no value for."""

    code = "missing_variable"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__("variables", f"no value for {{{{{name}}}}} in the body")


def placeholders(template: str) -> list[str]:
    """The variable names `template` uses, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


def fill_template(template: str, variables: Mapping[str, object]) -> str:
    """`template` with every `{{name}}` replaced by `variables[name]`.

    Values may be strings or numbers (booleans and other types are refused: `True` rendered as
    "True" in an SMS is a mistake, not a message). Unused variables are ignored.

    Raises:
        MissingVariable: a placeholder has no value.
        InvalidInput: a value is not a string or a number (field `variables`).
    """

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise MissingVariable(name)
        value = variables[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidInput("variables", f"{name}: must be a string or a number")
        return str(value)

    return PLACEHOLDER.sub(value_of, template)
