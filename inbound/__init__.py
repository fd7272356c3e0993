"""Inbound messages and opt-out (pure): keyword rules, address forms, the opted-out error.
Imports nothing of ours but `messaging`."""

from inbound.errors import RecipientOptedOut
from inbound.keywords import (
    DEFAULT_HELP,
    DEFAULT_KEYWORDS,
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    KeywordAction,
    Keywords,
    normalise,
)
from inbound.numbers import service_key, subscriber_number

__all__ = [
    "DEFAULT_HELP",
    "DEFAULT_KEYWORDS",
    "DEFAULT_OPT_IN",
    "DEFAULT_OPT_OUT",
    "KeywordAction",
    "Keywords",
    "RecipientOptedOut",
    "normalise",
    "service_key",
    "subscriber_number",
]
