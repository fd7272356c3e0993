"""Marketing campaigns (pure): templates, audience rows, quiet hours, pacing, the state machine.
Imports nothing of ours but `messaging`; the store code is `store.campaigns`, the handlers
`api.campaigns_api`, the release task `workers.campaign_release`."""

from campaigns.audience import (
    MAX_SEGMENTS,
    TO_COLUMN,
    AudienceRules,
    ScheduledRow,
    SkippedRow,
    SkipReason,
)
from campaigns.errors import (
    AudienceInvalid,
    AudienceMissingTo,
    AudienceNotCsv,
    CampaignStateConflict,
    TemplateInvalid,
    TemplateUnknownVariable,
)
from campaigns.pacing import (
    CarrierCapacity,
    advance_mark,
    fair_share,
    rate_allowance,
    slice_budget,
)
from campaigns.progress import (
    NO_HOLD,
    RATE_WINDOW,
    Hold,
    Tally,
    eta_seconds,
    quiet_hold,
    rate,
    shown_state,
    tally,
)
from campaigns.states import TRANSITIONS, CampaignAction, CampaignState, next_state
from campaigns.template import Template
from campaigns.windows import (
    UNKNOWN_ZONE,
    SendWindow,
    is_open,
    next_open,
    zone_key,
    zones_for_number,
    zones_of_key,
)

__all__ = [
    "MAX_SEGMENTS",
    "NO_HOLD",
    "RATE_WINDOW",
    "TO_COLUMN",
    "TRANSITIONS",
    "UNKNOWN_ZONE",
    "AudienceInvalid",
    "AudienceMissingTo",
    "AudienceNotCsv",
    "AudienceRules",
    "CampaignAction",
    "CampaignState",
    "CampaignStateConflict",
    "CarrierCapacity",
    "Hold",
    "ScheduledRow",
    "SendWindow",
    "SkipReason",
    "SkippedRow",
    "Tally",
    "Template",
    "TemplateInvalid",
    "TemplateUnknownVariable",
    "advance_mark",
    "eta_seconds",
    "fair_share",
    "is_open",
    "next_open",
    "next_state",
    "quiet_hold",
    "rate",
    "rate_allowance",
    "shown_state",
    "slice_budget",
    "tally",
    "zone_key",
    "zones_for_number",
    "zones_of_key",
]
