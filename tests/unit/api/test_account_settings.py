"""The account settings' limits agree with the routes file's."""

from __future__ import annotations

from api.account_settings import MAX_REPLY_CHARS
from routing.config import REPLY_MAX_CHARS, ReplyTextsModel
from store import REPLY_KINDS


def test_reply_limits_and_kinds_are_the_routes_files() -> None:
    assert MAX_REPLY_CHARS == REPLY_MAX_CHARS
    assert set(REPLY_KINDS) == set(ReplyTextsModel.model_fields)
