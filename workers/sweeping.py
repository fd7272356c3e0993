"""One outbox sweep: take back dead batches, wake send tasks, resend silent OTPs, expire.

A plain function of its collaborators, so the elected sweeper (`workers.leader`) and the
`switchboard.sweep` task run the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from messaging import LeasePolicy, MessageClass
from otp import codes as otp_codes
from routing import RoutingTable, SegmentReceipts, carriers_by_receipts
from store import CallbackOutbox, IdempotencyStore, MessageStore, ResendPolicy, StatusChange
from store.otp_repository import OtpStore
from workers.callback_delivery import release_due_events

log = logging.getLogger(__name__)

MAX_WAKEUPS_PER_SWEEP = 20
# A multipart attempt on a `segment_receipts = "auto"` carrier that has a receipt for some of
# its segments and no new one for this long gets no more: its carrier sends one per message.
SEGMENT_RECEIPT_GRACE = timedelta(seconds=30)


class SweepOutbox(Protocol):
    """Where the sweep puts send tasks."""

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Send tasks for these ids."""
        ...

    def enqueue_wakeup(self, message_class: str) -> None:
        """A send task with no ids: it claims the oldest due messages of its class."""
        ...


class SweepSettings(Protocol):
    """The settings a sweep reads."""

    @property
    def send_batch_max(self) -> int: ...
    @property
    def requeue_after(self) -> float: ...
    @property
    def stuck_sending_after(self) -> float: ...
    @property
    def otp_resend_after(self) -> float: ...
    @property
    def receipt_park_seconds(self) -> float: ...


def sweep_once(
    store: MessageStore,
    otp_store: OtpStore,
    outbox: SweepOutbox,
    notify: Callable[[Sequence[StatusChange]], None],
    settings: SweepSettings,
    resend_policy: ResendPolicy,
    now: datetime,
    leases: LeasePolicy | None = None,
    publish_callbacks: Callable[[list[list[int]]], None] | None = None,
    release_campaigns: Callable[[datetime], Mapping[str, int]] | None = None,
    routes: Callable[[], RoutingTable] | None = None,
    segment_receipt_grace: timedelta = SEGMENT_RECEIPT_GRACE,
    learn: Callable[[Sequence[tuple[str, str]]], None] | None = None,
) -> dict[str, int]:
    """Outbox sweep: re-enqueue stranded or due messages, expire overdue ones; the counts.

    Also applies receipts parked by a worker that died before it retried them, and (with
    `publish_callbacks`) hands out callback events whose retry is due or whose hand-off was lost.
    `learn` gets what the multipart attempts settled on one receipt showed of their carriers
    (`carriers.segment_learning`).
    """
    recovered = store.take_back(
        now, now - timedelta(seconds=settings.stuck_sending_after), leases or LeasePolicy()
    )
    stranded = store.stranded(now, queued_before=now - timedelta(seconds=settings.requeue_after))
    for message_class, count in stranded.items():
        # Wake-up tasks carry no ids: each claims the oldest due messages of its class.
        wakeups = min(-(-count // settings.send_batch_max), MAX_WAKEUPS_PER_SWEEP)
        for _ in range(wakeups):
            outbox.enqueue_wakeup(message_class)
    silent = store.silent_to_resend(
        now, now - timedelta(seconds=settings.otp_resend_after), resend_policy
    )
    for message_class, ids in silent.items():
        outbox.enqueue(message_class, ids)
    expired = store.expire_overdue(now)
    notify(expired)
    parked = store.retry_parked(
        now, timedelta(seconds=settings.receipt_park_seconds), resend_policy
    )
    notify(parked.result.changes)
    if parked.result.resend:
        outbox.enqueue(MessageClass.OTP.value, list(parked.result.resend))
    partial = 0
    if routes is not None:
        auto = carriers_by_receipts(routes().carriers, SegmentReceipts.AUTO)
        settled = store.settle_partial_receipts(
            now, now - segment_receipt_grace, auto, resend_policy
        )
        notify(settled.changes)
        if learn is not None and settled.segment_evidence:
            learn(settled.segment_evidence)
        if settled.resend:
            outbox.enqueue(MessageClass.OTP.value, list(settled.resend))
        partial = settled.matched
    masked = otp_store.mask_spent_codes(now, otp_codes.MIN_LENGTH)
    released = 0
    if publish_callbacks is not None:
        released = release_due_events(CallbackOutbox(store.engine), publish_callbacks, now)
    if stranded:
        log.info("sweeper woke send tasks for %s", stranded)
    campaign_counts = release_campaigns(now) if release_campaigns is not None else {}
    return {
        **{f"campaign_{k}": v for k, v in campaign_counts.items()},
        "stranded": sum(stranded.values()),
        "recovered": recovered,
        "expired": len(expired),
        "parked_receipts_matched": parked.result.matched,
        "settled_on_one_receipt": partial,
        "masked": masked,
        "callbacks_released": released,
        "idempotency_keys_expired": IdempotencyStore(store.engine).delete_expired(now),
    }
