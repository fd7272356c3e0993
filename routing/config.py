"""The shape of `config/routes.toml`, as pydantic models (extra keys forbidden, frozen).

Only the shape lives here: types, bounds, defaults. Rules that look across sections
(unknown carriers, weights, prices for routed prefixes, shadowed routes) live in
`routing.loader`, which reports every problem with its file, line and key.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from messaging import Encoding, MessageClass

PREFIX_PATTERN = r"^\+[1-9][0-9]{0,14}$"
"""An E.164 prefix: ``+``, a country code digit, up to 15 digits in all (ITU-T E.164 §6)."""

_PREFIX = re.compile(PREFIX_PATTERN)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _check_prefix(value: str) -> str:
    if not _PREFIX.match(value):
        raise ValueError('must be "+" and up to 15 digits, like "+44"')
    return value


def _check_currency(value: str) -> str:
    if not _CURRENCY.match(value):
        raise ValueError('must be an ISO 4217 code like "EUR"')
    return value


_STATUS = re.compile(r"^(ESME_R[A-Z0-9]+|0x[0-9A-F]{8})$")


def _check_status(value: str) -> str:
    if not _STATUS.match(value):
        raise ValueError('must be an SMPP status name like "ESME_RINVDSTADR" or "0x00000401"')
    return value


Prefix = Annotated[str, AfterValidator(_check_prefix)]
StatusName = Annotated[str, AfterValidator(_check_status)]
Currency = Annotated[str, AfterValidator(_check_currency)]
Amount = Annotated[Decimal, Field(ge=0)]


class Strategy(StrEnum):
    """How a route orders its carriers."""

    LEAST_COST = "least_cost"
    QUALITY = "quality"
    WEIGHTED = "weighted"
    PRIORITY = "priority"


class BindMode(StrEnum):
    """SMPP bind operation (SMPP 3.4 §4.1: bind_transmitter / bind_receiver / bind_transceiver)."""

    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"


def _only_transceiver(mode: BindMode) -> BindMode:
    if mode is not BindMode.TRANSCEIVER:
        raise ValueError(
            f'"{mode}" is not supported yet: every worker process submits and receives receipts '
            'on one "transceiver" bind per carrier'
        )
    return mode


class SegmentReceipts(StrEnum):
    """How a carrier reports a concatenated message: a receipt per segment, or one in all."""

    AUTO = "auto"  # wait for every segment's; settle on what came once no more can be coming
    EACH = "each"  # one receipt per segment: the message is final when every segment has one
    ONE = "one"  # one receipt per message (first or last segment): it settles every part


class CarrierPacing(StrEnum):
    """How a carrier counts its MPS, so how many of our processes may send to it at once."""

    # Not known: two senders, each catching up late slots, until the carrier throttles; then
    # one sender at a time, submits kept 1/MPS apart, until its pace has grown back.
    AUTO = "auto"
    # Counts submits over each 1-s window (a burst within it is fine): never one sender only.
    WINDOW = "window"
    # A bucket of one token: refuses two submits closer than 1/MPS. One sender at a time,
    # always, every two submits at least 1/MPS apart.
    BURST1 = "burst1"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CarrierModel(_Frozen):
    """`[carriers.<name>]`: one SMPP carrier account."""

    host: str = Field(min_length=1)
    port: int = Field(gt=0, le=65535)
    # SMPP 3.4 §4.1.1: system_id is at most 15 octets (16 with the NUL), password 8 (9).
    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(max_length=8)
    system_type: str = Field(default="", max_length=12)  # SMPP 3.4 §4.1.1: 13 with the NUL
    # Each sending worker process holds one transceiver session per carrier and takes receipts
    # on it; other bind kinds are refused rather than silently ignored.
    bind: Annotated[BindMode, AfterValidator(_only_transceiver)] = BindMode.TRANSCEIVER
    # Binds the whole cluster may hold to this carrier (its max binds): each bind takes a Redis
    # lease first, and a process that gets none does not bind (fails closed). Unset: no cap,
    # every sending process binds once.
    binds: int | None = Field(default=None, gt=0)
    window: int = Field(default=10, gt=0)
    enquire_link: float = Field(default=30.0, gt=0)  # seconds of silence before enquire_link
    mps: int = Field(gt=0)  # submit_sm PDUs per second, cluster-wide
    encodings: tuple[Encoding, ...] = Field(default=(Encoding.GSM7, Encoding.UCS2), min_length=1)
    otp_reserved_share: float = Field(default=0.2, ge=0, le=0.9)
    # ESME_RTHROTTLED / ESME_RMSGQFUL: cut this carrier's pace and try it again (false), or
    # move the message to its next candidate at once (true).
    throttle_failover: bool = False
    pacing: CarrierPacing = CarrierPacing.AUTO
    alphanumeric_sender: bool = True
    # Destinations this carrier does not serve, whatever its price list says.
    exclude_prefixes: tuple[Prefix, ...] = ()
    segment_receipts: SegmentReceipts = SegmentReceipts.AUTO
    # Per-carrier overrides of the status table: these permanent codes fail over to the next
    # candidate (e.g. ESME_RINVDSTADR from a carrier that means "not my coverage"), these
    # transient ones fail the message at once.
    failover_on: tuple[StatusName, ...] = ()
    permanent_on: tuple[StatusName, ...] = ()


class AccountModel(_Frozen):
    """`[accounts.<name>]`: rules for one sending account (the API account name)."""

    blocked_prefixes: tuple[Prefix, ...] = ()
    # Every MO to the account's numbers is POSTed here, signed like status callbacks.
    inbound_url: str | None = Field(default=None, min_length=1, max_length=2048)


REPLY_MAX_CHARS = 480  # three GSM-7 segments of a concatenated SMS (3 x 153 = 459, UCS-2 less)
ReplyText = Annotated[str, Field(max_length=REPLY_MAX_CHARS)]


class ReplyTextsModel(_Frozen):
    """Reply texts: `help` (HELP, INFO), `stop` / `start` (confirmations), `auto` (any other
    MO). An empty string turns off a text a wider level gives."""

    help: ReplyText | None = None
    stop: ReplyText | None = None
    start: ReplyText | None = None
    auto: ReplyText | None = None


class RepliesModel(ReplyTextsModel):
    """`[replies]`: the default texts, `[replies.accounts.<name>]`, `[replies.numbers."<n>"]`."""

    # At most one reply of a kind per subscriber and number in this many minutes.
    every_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    accounts: dict[str, ReplyTextsModel] = {}
    numbers: dict[str, ReplyTextsModel] = {}


class PriceListModel(BaseModel):
    """`[prices.<carrier>]`: ``currency``, optional ``file``, and ``"+44" = 0.030`` per segment.

    Prefix keys are open-ended, so this one table allows extra keys, each validated as a
    non-negative amount; `routing.loader` then rejects any extra key that is not a prefix.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Amount] = Field(init=False)

    currency: Currency = "EUR"
    file: str | None = None

    def per_segment(self) -> dict[str, Decimal]:
        """The inline ``prefix = price`` entries."""
        return dict(self.model_extra or {})


class MatchModel(_Frozen):
    """`match = {prefix = "+44", class = "otp", account = "acme"}`; every key optional."""

    prefix: Prefix | None = None
    message_class: MessageClass | None = Field(default=None, alias="class")
    account: str | None = Field(default=None, min_length=1)


class RouteModel(_Frozen):
    """`[[routes]]`: which traffic it takes and how it orders its carriers."""

    name: str = Field(min_length=1)
    match: MatchModel = MatchModel()
    strategy: Strategy
    carriers: tuple[str, ...] = Field(min_length=1)
    weights: dict[str, Annotated[int, Field(ge=0, le=100)]] | None = None
    # A message whose first candidate has no MPS token now goes to the next one that has (true),
    # or waits for it (false). Unset: marketing spills, OTP and transactional wait. Strict: a
    # TOML string such as "yes" is an error, not a truthy value.
    spill: StrictBool | None = None


class KeywordsModel(_Frozen):
    """`[keywords]`: localised MO keywords added to the defaults (STOP, START, HELP…)."""

    opt_out: tuple[str, ...] = ()
    opt_in: tuple[str, ...] = ()
    help: tuple[str, ...] = ()


class RoutesFile(_Frozen):
    """The whole of `config/routes.toml`."""

    # Emptiness is checked by the loader: pydantic would also flag a list whose only item
    # failed validation as empty, doubling that problem.
    carriers: dict[str, CarrierModel]
    accounts: dict[str, AccountModel] = {}
    prices: dict[str, PriceListModel] = {}
    routes: tuple[RouteModel, ...]
    # `"+447700900000" = "acme"`: which account owns a number or short code (its MOs, STOPs).
    numbers: dict[str, str] = {}
    # `opt_out = ["ARRET", "ABMELDEN", "BAJA"]`: keywords in the subscribers' languages.
    keywords: KeywordsModel = KeywordsModel()
    # Automatic replies to MOs (HELP text, STOP/START confirmations, auto-reply).
    replies: RepliesModel = RepliesModel()
