"""Keyword matching — no sockets."""

from __future__ import annotations

import pytest

from inbound import DEFAULT_KEYWORDS, KeywordAction, Keywords, subscriber_number


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "S T O P",
        "stop.",
        "StopAll",
        "unsubscribe",
        "END",
        "quit",
        "Cancel!",
        "OPTOUT",
        "revoke",
        "\tSTOP\n",
        "ＳＴＯＰ",
    ],
)
def test_opt_out_keywords_match_whatever_the_case_and_spaces(text: str) -> None:
    assert DEFAULT_KEYWORDS.classify(text) is KeywordAction.OPT_OUT


@pytest.mark.parametrize("text", ["START", "unstop", " yes "])
def test_opt_in_keywords(text: str) -> None:
    assert DEFAULT_KEYWORDS.classify(text) is KeywordAction.OPT_IN


def test_help_keyword() -> None:
    assert DEFAULT_KEYWORDS.classify("help") is KeywordAction.HELP


@pytest.mark.parametrize("text", ["please stop sending", "STOPPED", "", "no", "stop it"])
def test_a_sentence_is_not_a_keyword(text: str) -> None:
    assert DEFAULT_KEYWORDS.classify(text) is None


def test_localised_keywords_are_normalised_too() -> None:
    keywords = Keywords(opt_out=frozenset({"arret", "Abmelden", "BAJA"}))

    assert keywords.classify("Arret") is KeywordAction.OPT_OUT
    assert keywords.classify("STOP") is None  # the set replaces the defaults


def test_a_keyword_in_two_sets_is_refused() -> None:
    with pytest.raises(ValueError, match="YES"):
        Keywords(opt_out=frozenset({"YES"}))


@pytest.mark.parametrize(
    ("source", "number"), [("447700900123", "+447700900123"), ("+1555", "+1555"), ("ACME", "ACME")]
)
def test_subscriber_numbers_are_kept_in_e164(source: str, number: str) -> None:
    assert subscriber_number(source) == number
