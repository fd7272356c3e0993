"""The batch body's two forms expand to one message body per item (pure, no server)."""

from __future__ import annotations

import pytest

from api.batch import expand
from api.problems import ApiProblem
from api.schemas import MAX_BATCH_ITEMS
from messaging import InvalidInput, MissingVariable


def test_recipients_share_every_top_level_field_and_get_their_own_body() -> None:
    items = expand(
        {
            "from": "Acme",
            "class": "otp",
            "validity": 300,
            "body": "Code {{code}}",
            "recipients": ["+447400123456", {"to": "+33612345678", "variables": {"code": 7}}],
        }
    )
    assert items[1] == {
        "from": "Acme",
        "class": "otp",
        "validity": 300,
        "body": "Code 7",
        "to": "+33612345678",
    }
    assert isinstance(items[0], MissingVariable)  # a bare number has no variables


def test_a_bad_recipient_is_an_error_of_its_own() -> None:
    items = expand({"body": "hi", "recipients": [42, {"to": "+447400123456", "vars": {}}]})
    assert [type(i) for i in items] == [InvalidInput, InvalidInput]
    assert [i.field for i in items if isinstance(i, InvalidInput)] == ["recipients", "vars"]


def test_messages_are_passed_on_as_they_are() -> None:
    assert expand({"messages": [{"to": "x"}, "y"]}) == [{"to": "x"}, "y"]


def test_over_the_limit_is_413_too_many_messages() -> None:
    with pytest.raises(ApiProblem) as caught:
        expand({"messages": [{}] * (MAX_BATCH_ITEMS + 1)})
    assert (caught.value.status, caught.value.code) == (413, "too_many_messages")
