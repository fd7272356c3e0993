"""The campaign state machine: every action from every state, allowed or a 409 conflict."""

from __future__ import annotations

import pytest

from campaigns import TRANSITIONS, CampaignAction, CampaignState, CampaignStateConflict, next_state

ALLOWED = {
    (CampaignState.DRAFT, CampaignAction.START): CampaignState.RUNNING,
    (CampaignState.RUNNING, CampaignAction.PAUSE): CampaignState.PAUSED,
    (CampaignState.PAUSED, CampaignAction.RESUME): CampaignState.RUNNING,
    (CampaignState.DRAFT, CampaignAction.CANCEL): CampaignState.CANCELED,
    (CampaignState.RUNNING, CampaignAction.CANCEL): CampaignState.CANCELED,
    (CampaignState.PAUSED, CampaignAction.CANCEL): CampaignState.CANCELED,
}


@pytest.mark.parametrize("state", list(CampaignState))
@pytest.mark.parametrize("action", list(CampaignAction))
def test_every_action_from_every_state(state: CampaignState, action: CampaignAction) -> None:
    if (state, action) in ALLOWED:
        assert next_state(state, action) is ALLOWED[(state, action)]
        return
    with pytest.raises(CampaignStateConflict) as caught:
        next_state(state, action)
    assert caught.value.code == "campaign_state_conflict"
    assert caught.value.state == state.value


def test_the_table_names_every_action() -> None:
    assert set(TRANSITIONS) == set(CampaignAction)
