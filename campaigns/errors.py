"""Errors of the campaigns feature, each with its stable API code."""

from __future__ import annotations

from messaging import InvalidInput, SwitchboardError


class TemplateInvalid(InvalidInput):
    """A template that cannot be rendered: bad braces, a format spec, an empty field name."""

    code = "template_invalid"


class TemplateUnknownVariable(InvalidInput):
    """A template names a variable that no recipient of the audience has."""

    code = "template_unknown_variable"

    def __init__(self, names: tuple[str, ...], known: tuple[str, ...]) -> None:
        self.names = names
        self.known = known
        have = ", ".join(known) if known else "none"
        super().__init__(
            "template", f"unknown variable(s) {', '.join(names)}; the audience has: {have}"
        )


class AudienceInvalid(InvalidInput):
    """An audience upload refused as a whole (nothing stored): not CSV, or no `to` column."""

    code = "audience_invalid"


class AudienceNotCsv(AudienceInvalid):
    """The upload is not CSV text (not UTF-8, binary, or rows that no CSV reader accepts)."""

    code = "audience_not_csv"


class AudienceMissingTo(AudienceInvalid):
    """The header names no `to` column."""

    code = "audience_missing_to"


class CampaignStateConflict(SwitchboardError):
    """An action the campaign's state does not allow (start a running one, resume a draft…)."""

    code = "campaign_state_conflict"

    def __init__(self, action: str, state: str, allowed_from: tuple[str, ...]) -> None:
        self.action = action
        self.state = state
        self.allowed_from = allowed_from
        super().__init__(
            f"cannot {action} a campaign that is {state} (only from: {', '.join(allowed_from)})"
        )
