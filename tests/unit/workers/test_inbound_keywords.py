"""The routes file's `[keywords]` added to the default MO keywords, and its `[replies]` and
`inbound_url`s as the store's inbound actions."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from inbound import DEFAULT_HELP_REPLY, DEFAULT_KEYWORDS, KeywordAction
from routing import InboundSpec
from workers.inbound import inbound_actions, with_operator_keywords


def test_localised_keywords_join_the_defaults() -> None:
    keywords = with_operator_keywords({"opt_out": ("ARRET", "ABMELDEN", "BAJA"), "help": ("AIDE",)})
    assert keywords.classify(" arrêt ".replace("ê", "e")) is KeywordAction.OPT_OUT
    assert keywords.classify("Baja.") is KeywordAction.OPT_OUT
    assert keywords.classify("STOP") is KeywordAction.OPT_OUT  # the defaults stay
    assert keywords.classify("aide") is KeywordAction.HELP
    assert keywords.classify("START") is KeywordAction.OPT_IN


def test_a_word_moved_to_another_action_keeps_the_defaults_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        keywords = with_operator_keywords({"opt_out": ("START",)})
    assert keywords == DEFAULT_KEYWORDS
    assert "[keywords]" in caplog.text and "START" in caplog.text


def test_inbound_actions_give_the_store_the_routes_files_urls_and_replies() -> None:
    spec = InboundSpec(
        urls={"acme": "https://acme.example/mo"},
        replies={"stop": "Unsubscribed"},
        account_replies={"acme": {"auto": "Thanks"}},
        number_replies={"12345": {"help": "Short code help"}},
        reply_every_minutes=5,
    )
    actions = inbound_actions(spec)
    assert actions.inbound_url("acme") == "https://acme.example/mo"
    assert actions.inbound_url("other") is None
    assert actions.reply("acme", "+12345", "help") == ("help", "Short code help")
    assert actions.reply("other", "999", "help") == ("help", DEFAULT_HELP_REPLY)
    assert actions.reply("other", "999", "opt_out") == ("stop", "Unsubscribed")
    assert actions.reply("other", "999", "opt_in") is None
    assert actions.reply("acme", "999", None) == ("auto", "Thanks")
    assert actions.reply_every == timedelta(minutes=5)
