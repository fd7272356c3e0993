"""Errors of the inbound/opt-out feature (each with its stable API code)."""

from __future__ import annotations

from messaging import SwitchboardError


class RecipientOptedOut(SwitchboardError):
    """A marketing message to a number that opted out of the account's messages."""

    code = "recipient_opted_out"

    def __init__(self, number: str) -> None:
        self.number = number
        super().__init__(f"{number} opted out of this account's marketing messages (sent STOP)")
