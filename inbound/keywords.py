"""Keyword rules for mobile-originated messages (pure): opt-out, opt-in and help.

A subscriber's whole message is the keyword: ``" stop "`` and ``"Stop."`` match STOP, while
``"please stop sending"`` does not — carriers' own STOP handling (CTIA, UK PECR guidance) works
the same way, so a conversational reply never unsubscribes anyone by accident.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_OPT_OUT = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"}
)
DEFAULT_OPT_IN = frozenset({"START", "UNSTOP", "YES"})
DEFAULT_HELP = frozenset({"HELP", "INFO"})  # CTIA: HELP and INFO get the help text
_TRAILING = ".!?"  # "STOP." and "Stop!" are the keyword too


class KeywordAction(StrEnum):
    """What a keyword MO does to its sender."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


def normalise(text: str) -> str:
    """Upper-case, NFKC-folded, every whitespace run removed, trailing punctuation dropped."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(folded.split()).rstrip(_TRAILING)


@dataclass(frozen=True)
class Keywords:
    """The keyword sets in force (defaults; localised ones can be added by the operator)."""

    opt_out: frozenset[str] = DEFAULT_OPT_OUT
    opt_in: frozenset[str] = DEFAULT_OPT_IN
    help: frozenset[str] = DEFAULT_HELP

    def __post_init__(self) -> None:
        for name in ("opt_out", "opt_in", "help"):
            object.__setattr__(self, name, frozenset(normalise(k) for k in getattr(self, name)))
        clash = (
            (self.opt_out & self.opt_in) | (self.opt_out & self.help) | (self.opt_in & self.help)
        )
        if clash:
            raise ValueError(f"keywords in more than one set: {', '.join(sorted(clash))}")

    def classify(self, text: str) -> KeywordAction | None:
        """The action `text` asks for, or None when it is not a keyword."""
        word = normalise(text)
        if word in self.opt_out:
            return KeywordAction.OPT_OUT
        if word in self.opt_in:
            return KeywordAction.OPT_IN
        if word in self.help:
            return KeywordAction.HELP
        return None


DEFAULT_KEYWORDS = Keywords()
