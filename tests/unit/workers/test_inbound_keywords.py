"""The routes file's `[keywords]` added to the default MO keywords."""

from __future__ import annotations

import logging

import pytest

from inbound import DEFAULT_KEYWORDS, KeywordAction
from workers.inbound import with_operator_keywords


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
