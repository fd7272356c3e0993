"""The campaign state machine, as a table (pure).

draft → running (start; sends begin at `start_at`) ⇄ paused (pause / resume); any of those →
canceled; running → completed once every recipient is released and none is left scheduled.
"""

from __future__ import annotations

from enum import StrEnum

from campaigns.errors import CampaignStateConflict


class CampaignState(StrEnum):
    """Where a campaign is."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELED = "canceled"
    COMPLETED = "completed"


class CampaignAction(StrEnum):
    """What an operator may ask of a campaign."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


# action → (states it is allowed from, the state it leads to)
TRANSITIONS: dict[CampaignAction, tuple[frozenset[CampaignState], CampaignState]] = {
    CampaignAction.START: (frozenset({CampaignState.DRAFT}), CampaignState.RUNNING),
    CampaignAction.PAUSE: (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    CampaignAction.RESUME: (frozenset({CampaignState.PAUSED}), CampaignState.RUNNING),
    CampaignAction.CANCEL: (
        frozenset({CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED}),
        CampaignState.CANCELED,
    ),
}


def next_state(state: CampaignState, action: CampaignAction) -> CampaignState:
    """The state `action` leads to from `state`.

    Raises:
        CampaignStateConflict: the action is not allowed from `state`.
    """
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        raise CampaignStateConflict(action.value, state.value, tuple(sorted(allowed)))
    return target
