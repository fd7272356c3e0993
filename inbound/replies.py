"""Automatic replies to MOs (pure): which text answers which MO, and how often.

A HELP (or INFO) MO is answered with the help text — carriers require one (CTIA Messaging
Principles §5; the UK MNOs' PSMS code) and it goes even to a number that opted out, as the
STOP confirmation does: both are `transactional`, which opt-outs never block. STOP and START
are confirmed when a text is configured; any other MO gets the auto-reply when one is.

Texts come from the operator (`[replies]` of the routes file): a number's own text wins over
its account's, which wins over the file's default, key by key; the help text has a built-in
default so every owned number answers HELP. At most one reply of each kind goes to one
subscriber from one of our numbers per `every` (default 60 minutes): two auto-responders
cannot ping-pong, and a subscriber sending HELP ten times gets one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from inbound.keywords import KeywordAction

DEFAULT_HELP_REPLY = "Reply STOP to unsubscribe, START to subscribe again."
DEFAULT_REPLY_EVERY = timedelta(minutes=60)


class ReplyKind(StrEnum):
    """Which automatic reply an MO gets (also the throttle's key with the two numbers)."""

    HELP = "help"
    STOP = "stop"
    START = "start"
    AUTO = "auto"


_BY_ACTION = {
    KeywordAction.HELP: ReplyKind.HELP,
    KeywordAction.OPT_OUT: ReplyKind.STOP,
    KeywordAction.OPT_IN: ReplyKind.START,
}


def reply_kind(action: KeywordAction | None) -> ReplyKind:
    """The reply an MO with this keyword action asks for (no keyword: the auto-reply)."""
    return _BY_ACTION[action] if action is not None else ReplyKind.AUTO


@dataclass(frozen=True)
class Reply:
    """One automatic reply to send: its kind and text."""

    kind: ReplyKind
    text: str


def _frozen(texts: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({ReplyKind(k).value: v for k, v in texts.items()})


@dataclass(frozen=True)
class ReplyRules:
    """The reply texts in force: defaults, per account name, per number (digits, no `+`)."""

    default: Mapping[str, str] = field(default_factory=lambda: {"help": DEFAULT_HELP_REPLY})
    accounts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    numbers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    every: timedelta = DEFAULT_REPLY_EVERY

    def __post_init__(self) -> None:
        if self.every <= timedelta(0):
            raise ValueError("every must be positive")
        object.__setattr__(self, "default", _frozen(self.default))
        for name in ("accounts", "numbers"):
            table = {k.removeprefix("+"): _frozen(v) for k, v in getattr(self, name).items()}
            object.__setattr__(self, name, MappingProxyType(table))

    def reply_for(self, action: KeywordAction | None, account: str, number: str) -> Reply | None:
        """The reply an MO to our `number` (owned by `account`) gets, or None (no text)."""
        kind = reply_kind(action)
        for texts in (
            self.numbers.get(number.strip().removeprefix("+"), {}),
            self.accounts.get(account, {}),
            self.default,
        ):
            if kind.value in texts:
                text = texts[kind.value]
                return Reply(kind, text) if text else None  # "" turns a default off
        return None


def reply_cutoff(now: datetime, every: timedelta) -> datetime:
    """A reply of the same kind last sent at or before this may be sent again at `now`."""
    return now - every


def reply_allowed(last_sent: datetime | None, now: datetime, every: timedelta) -> bool:
    """True when a reply may go now, the previous one of its kind having gone at `last_sent`."""
    return last_sent is None or last_sent <= reply_cutoff(now, every)
