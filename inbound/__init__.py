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
from inbound.replies import (
    DEFAULT_HELP_REPLY,
    DEFAULT_REPLY_EVERY,
    Reply,
    ReplyKind,
    ReplyRules,
    reply_allowed,
    reply_cutoff,
    reply_kind,
)

__all__ = [
    "DEFAULT_HELP",
    "DEFAULT_HELP_REPLY",
    "DEFAULT_KEYWORDS",
    "DEFAULT_OPT_IN",
    "DEFAULT_OPT_OUT",
    "DEFAULT_REPLY_EVERY",
    "KeywordAction",
    "Keywords",
    "RecipientOptedOut",
    "Reply",
    "ReplyKind",
    "ReplyRules",
    "normalise",
    "reply_allowed",
    "reply_cutoff",
    "reply_kind",
    "service_key",
    "subscriber_number",
]
