"""Campaign templates: the batch API's `{{name}}` placeholders, parsed once, rendered per
recipient (pure).

The syntax is `messaging.templates` (`{{first_name}}` or `{{ first_name }}`), so a campaign
and `POST /v1/messages/batch` read the same text the same way. A single-brace `{first_name}`
is refused with a hint rather than sent as literal braces to a million people. A recipient
without a value for a placeholder is an error for that recipient (`MissingVariable`), never
for the campaign.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from campaigns.errors import TemplateInvalid, TemplateUnknownVariable
from messaging import MissingVariable
from messaging.templates import PLACEHOLDER

MAX_TEMPLATE_CHARS = 1600
_SINGLE_BRACE = re.compile(r"(?<!\{)\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}(?!\})")


@dataclass(frozen=True)
class Template:
    """A parsed template: literal pieces, each followed by a placeholder (None after the last)."""

    text: str
    pieces: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse `text`.

        Raises:
            TemplateInvalid: empty, too long, or a single-brace `{name}` (write `{{name}}`).
        """
        if not text.strip():
            raise TemplateInvalid("template", "the template is empty")
        if len(text) > MAX_TEMPLATE_CHARS:
            raise TemplateInvalid("template", f"longer than {MAX_TEMPLATE_CHARS} characters")
        outside = PLACEHOLDER.sub("", text)
        single = _SINGLE_BRACE.search(outside)
        if single is not None:
            name = single.group(1)
            raise TemplateInvalid(
                "template", f"{{{name}}}: a placeholder has two braces, {{{{{name}}}}}"
            )
        pieces: list[tuple[str, str | None]] = []
        at = 0
        for match in PLACEHOLDER.finditer(text):
            pieces.append((text[at : match.start()], match.group(1)))
            at = match.end()
        pieces.append((text[at:], None))
        return cls(text, tuple(pieces))

    @property
    def fields(self) -> tuple[str, ...]:
        """The placeholder names, each once, in order of first use."""
        return tuple(dict.fromkeys(n for _, n in self.pieces if n is not None))

    def check_known(self, columns: Iterable[str]) -> None:
        """Refuse a template naming a placeholder no recipient can have.

        Raises:
            TemplateUnknownVariable: naming every such placeholder and the columns there are.
        """
        known = tuple(columns)
        unknown = tuple(n for n in self.fields if n not in known)
        if unknown:
            raise TemplateUnknownVariable(unknown, known)

    @functools.cached_property
    def _format(self) -> str:
        """The template as one `str.format` string, `{i}` for the i-th of `fields` (the
        literals' braces doubled): compiled once, so a recipient costs one `format` call."""
        index = {name: i for i, name in enumerate(self.fields)}
        out: list[str] = []
        for literal, name in self.pieces:
            out.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is not None:
                out.append(f"{{{index[name]}}}")
        return "".join(out)

    def fill(self, values: Sequence[str]) -> str:
        """The text for one recipient from its values in the order of `fields`, each already
        checked non-empty (the audience's fast path; `render` checks and names the missing)."""
        return self._format.format(*values)

    def render(self, values: Mapping[str, str]) -> str:
        """The text for one recipient.

        Raises:
            MissingVariable: the recipient has no value (or an empty one) for a placeholder.
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
