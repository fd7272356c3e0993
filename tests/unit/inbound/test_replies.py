"""Automatic reply rules (pure): which text answers which MO, and the throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from inbound import (
    DEFAULT_HELP_REPLY,
    KeywordAction,
    Reply,
    ReplyKind,
    ReplyRules,
    reply_allowed,
    reply_kind,
)

RULES = ReplyRules(
    default={"help": "Default help", "auto": "Default auto"},
    accounts={"acme": {"help": "Acme help", "stop": "Acme: unsubscribed"}},
    numbers={"+447700900000": {"help": "Number help", "auto": ""}},
)


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        (KeywordAction.HELP, ReplyKind.HELP),
        (KeywordAction.OPT_OUT, ReplyKind.STOP),
        (KeywordAction.OPT_IN, ReplyKind.START),
        (None, ReplyKind.AUTO),
    ],
)
def test_each_keyword_action_asks_for_its_reply_kind(
    action: KeywordAction | None, kind: ReplyKind
) -> None:
    assert reply_kind(action) is kind


def test_a_numbers_text_wins_over_its_accounts_which_wins_over_the_default() -> None:
    assert RULES.reply_for(KeywordAction.HELP, "acme", "447700900000") == Reply(
        ReplyKind.HELP, "Number help"
    )
    assert RULES.reply_for(KeywordAction.HELP, "acme", "12345") == Reply(
        ReplyKind.HELP, "Acme help"
    )
    assert RULES.reply_for(KeywordAction.HELP, "other", "12345") == Reply(
        ReplyKind.HELP, "Default help"
    )
    assert RULES.reply_for(KeywordAction.OPT_OUT, "acme", "447700900000") == Reply(
        ReplyKind.STOP, "Acme: unsubscribed"
    )  # the number has no stop text: its account's


def test_no_text_or_an_empty_one_means_no_reply() -> None:
    assert RULES.reply_for(KeywordAction.OPT_IN, "acme", "12345") is None  # no start text
    assert RULES.reply_for(None, "acme", "+447700900000") is None  # "" turns auto off
    assert RULES.reply_for(None, "acme", "12345") == Reply(ReplyKind.AUTO, "Default auto")


def test_help_has_a_built_in_text_and_nothing_else_does() -> None:
    rules = ReplyRules()
    assert rules.reply_for(KeywordAction.HELP, "a", "1") == Reply(
        ReplyKind.HELP, DEFAULT_HELP_REPLY
    )
    assert rules.reply_for(KeywordAction.OPT_OUT, "a", "1") is None
    assert rules.reply_for(None, "a", "1") is None


def test_an_unknown_kind_or_a_zero_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="'sorry' is not a valid ReplyKind"):
        ReplyRules(default={"sorry": "x"})
    with pytest.raises(ValueError, match="every must be positive"):
        ReplyRules(every=timedelta(0))


def test_a_second_reply_waits_for_the_whole_interval() -> None:
    every = timedelta(minutes=60)
    with freeze_time("2026-12-01 09:00:00") as frozen:
        assert reply_allowed(None, datetime.now(UTC), every)  # never replied
        last = datetime.now(UTC)
        frozen.tick(timedelta(minutes=59, seconds=59))
        assert not reply_allowed(last, datetime.now(UTC), every)
        frozen.tick(timedelta(seconds=1))
        assert reply_allowed(last, datetime.now(UTC), every)
