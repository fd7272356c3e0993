"""Message templates: `Hi {first_name}, …` rendered per recipient (pure).

A field is a plain name in single braces; `{{` and `}}` are literal braces. Format specs and
conversions (`{x:>5}`, `{x!r}`) are refused: a template is text for subscribers, not Python.
A recipient without a value for a field is an error for that recipient (`MissingVariable`),
never for the campaign.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from campaigns.errors import TemplateInvalid, TemplateUnknownVariable

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TEMPLATE_CHARS = 1600


class MissingVariable(Exception):
    """This recipient has no (or an empty) value for a field of the template."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


@dataclass(frozen=True)
class Template:
    """A parsed template: literal pieces and the field after each (None after the last)."""

    text: str
    pieces: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse `text`.

        Raises:
            TemplateInvalid: unbalanced braces, a format spec or conversion, a bad name.
        """
        if not text.strip():
            raise TemplateInvalid("template", "the template is empty")
        if len(text) > MAX_TEMPLATE_CHARS:
            raise TemplateInvalid("template", f"longer than {MAX_TEMPLATE_CHARS} characters")
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise TemplateInvalid(
                "template", f"bad braces ({exc}); write {{{{ for a brace"
            ) from None
        pieces: list[tuple[str, str | None]] = []
        for literal, name, spec, conversion in parsed:
            if name is not None and (spec or conversion or not _NAME.match(name)):
                raise TemplateInvalid(
                    "template", f"{{{name}}}: a field is a plain name like {{first_name}}"
                )
            pieces.append((literal, name))
        return cls(text, tuple(pieces))

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names, each once, in order of first use."""
        return tuple(dict.fromkeys(n for _, n in self.pieces if n is not None))

    def check_known(self, columns: Iterable[str]) -> None:
        """Refuse a template naming a field no recipient can have.

        Raises:
            TemplateUnknownVariable: naming every such field and the columns there are.
        """
        known = tuple(columns)
        unknown = tuple(n for n in self.fields if n not in known)
        if unknown:
            raise TemplateUnknownVariable(unknown, known)

    def render(self, values: Mapping[str, str]) -> str:
        """The text for one recipient.

        Raises:
            MissingVariable: the recipient has no value (or an empty one) for a field.
        """
        out: list[str] = []
        for literal, name in self.pieces:
            out.append(literal)
            if name is not None:
                value = values.get(name)
                if not value:
                    raise MissingVariable(name)
                out.append(value)
        return "".join(out)
