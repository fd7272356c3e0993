"""The OTP repository: one short transaction per method; every limit is a conditional UPDATE.

No read-modify-write in Python decides a limit. `count_check` increments only while the
verification is pending, unexpired and under its attempt limit, so however many API processes
race, PostgreSQL (which re-evaluates the WHERE clause on the newest row version under READ
COMMITTED) and SQLite (one writer at a time) let at most `max_checks` attempts in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, case, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from store.models import UNMASKED_OTP, Message
from store.open_status import status_of_row
from store.otp import PENDING, PrefixBlock, Verification

APPROVED = "approved"
CANCELED = "canceled"
EXPIRED = "expired"
_IN_OUTBOX = ("queued", "sending")  # a body still to be sent is never masked


def _mask_digits(body: str, min_digits: int) -> str:
    return re.sub(rf"\d{{{min_digits},}}", lambda found: "*" * len(found.group()), body)


@dataclass(frozen=True)
class NewVerification:
    """A verification the API is about to open (its first code already hashed)."""

    id: str
    account_id: str
    to: str
    prefix: str
    region: str
    code_hash: str
    max_checks: int
    max_sends: int
    message_id: str
    created_at: datetime
    expires_at: datetime
    code_length: int
    locale: str
    template: str | None
    web_otp_domain: str | None
    allow_unicode: bool


@dataclass(frozen=True)
class VerificationRecord:
    """A stored verification (plain values; `otp.Verification` is built from it)."""

    id: str
    account_id: str
    to: str
    status: str
    code_hash: str
    check_attempts: int
    max_checks: int
    sends: int
    max_sends: int
    created_at: datetime
    expires_at: datetime
    last_sent_at: datetime
    message_id: str
    approved_at: datetime | None
    code_length: int
    locale: str
    template: str | None
    web_otp_domain: str | None
    allow_unicode: bool


@dataclass(frozen=True)
class PrefixCounts:
    """Pumping-guard counts for one prefix (see `otp.pumping.PrefixStats`)."""

    recent_sends: int
    baseline_sends: int
    settled: int
    approved: int


@dataclass(frozen=True)
class BlockRecord:
    """A stored prefix block."""

    prefix: str
    blocked_at: datetime
    until: datetime
    reason: str
    lifted_at: datetime | None


_COLUMNS = (
    Verification.id,
    Verification.account_id,
    Verification.to,
    Verification.status,
    Verification.code_hash,
    Verification.check_attempts,
    Verification.max_checks,
    Verification.sends,
    Verification.max_sends,
    Verification.created_at,
    Verification.expires_at,
    Verification.last_sent_at,
    Verification.message_id,
    Verification.approved_at,
    Verification.code_length,
    Verification.locale,
    Verification.template,
    Verification.web_otp_domain,
    Verification.allow_unicode,
)


def _record(row: Any) -> VerificationRecord:
    return VerificationRecord(**{c.key: getattr(row, c.key) for c in _COLUMNS})


def _block(row: Any) -> BlockRecord:
    return BlockRecord(row.prefix, row.blocked_at, row.until, row.reason, row.lifted_at)


_MASK_PG = """
UPDATE messages SET body = u.body, secret_masked = true
FROM unnest(%(ids)s::varchar[], %(bodies)s::text[]) AS u(id, body)
WHERE messages.id = u.id AND messages.id = ANY(%(ids)s::varchar[])
"""


class OtpStore:
    """Repository of verifications and prefix blocks over an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- verifications -----------------------------------------------------------------

    def get(self, account_id: str, verification_id: str) -> VerificationRecord | None:
        """The verification of `account_id`, or None."""
        query = select(*_COLUMNS).where(
            Verification.id == verification_id, Verification.account_id == account_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row else None

    def pending_for(self, account_id: str, to: str, now: datetime) -> VerificationRecord | None:
        """The unexpired pending verification of `to`, or None."""
        query = select(*_COLUMNS).where(
            Verification.account_id == account_id,
            Verification.to == to,
            Verification.status == PENDING,
            Verification.expires_at > now,
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _record(row) if row else None

    def insert(self, new: NewVerification) -> VerificationRecord | None:
        """Open `new` and return it as written; None when `to` already has a pending
        verification (nothing written).

        A pending verification past its TTL is marked expired first, in the same transaction.
        """
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(Verification)
                    .where(
                        Verification.account_id == new.account_id,
                        Verification.to == new.to,
                        Verification.status == PENDING,
                        Verification.expires_at <= new.created_at,
                    )
                    .values(status=EXPIRED, updated_at=new.created_at)
                )
                row = conn.execute(
                    insert(Verification)
                    .values(
                        id=new.id,
                        account_id=new.account_id,
                        to=new.to,
                        prefix=new.prefix,
                        region=new.region,
                        status=PENDING,
                        code_hash=new.code_hash,
                        check_attempts=0,
                        max_checks=new.max_checks,
                        sends=1,
                        max_sends=new.max_sends,
                        message_id=new.message_id,
                        created_at=new.created_at,
                        updated_at=new.created_at,
                        expires_at=new.expires_at,
                        last_sent_at=new.created_at,
                        code_length=new.code_length,
                        locale=new.locale,
                        template=new.template,
                        web_otp_domain=new.web_otp_domain,
                        allow_unicode=new.allow_unicode,
                    )
                    # The row as inserted, not re-read: a concurrent resend may change it at once,
                    # and this request must send the message id it created (not the resend's).
                    .returning(*_COLUMNS)
                ).one()
        except IntegrityError:
            return None
        return _record(row)

    def count_check(
        self, account_id: str, verification_id: str, now: datetime
    ) -> VerificationRecord | None:
        """Count one check if pending, unexpired and under the limit; the row after, or None."""
        stmt = (
            update(Verification)
            .where(
                Verification.id == verification_id,
                Verification.account_id == account_id,
                Verification.status == PENDING,
                Verification.expires_at > now,
                Verification.check_attempts < Verification.max_checks,
            )
            .values(check_attempts=Verification.check_attempts + 1, updated_at=now)
            .returning(*_COLUMNS)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        return _record(row) if row else None

    def approve(
        self, verification_id: str, code_hash: str, now: datetime, message_id: str, code: str
    ) -> bool:
        """Approve once: True only for the one caller that moved it from pending with this code.

        The approved code is masked in its SMS row's body in the same transaction (once the row
        has left the outbox), so the clear code does not outlive its use.
        """
        stmt = (
            update(Verification)
            .where(
                Verification.id == verification_id,
                Verification.status == PENDING,
                Verification.code_hash == code_hash,  # a resend since the check replaced the code
                Verification.expires_at > now,
            )
            .values(status=APPROVED, approved_at=now, updated_at=now)
        )
        mask = (
            update(Message)
            .where(Message.id == message_id, Message.status.not_in(_IN_OUTBOX))
            .values(body=func.replace(Message.body, code, "*" * len(code)), secret_masked=True)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                return False
            conn.execute(mask)
            return True

    def mask_spent_codes(self, now: datetime, min_digits: int, limit: int = 500) -> int:
        """Mask the codes in OTP SMS rows that can no longer be used; how many rows.

        A row's code is live only while it is the current message of a pending, unexpired
        verification; a row still in the outbox (queued or sending, e.g. a carrier failover)
        keeps its text until it has gone out. Every run of `min_digits` (the shortest code) or
        more digits is masked; the templates' other numbers are shorter.
        """
        live = select(Verification.message_id).where(
            Verification.status == PENDING, Verification.expires_at > now
        )
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Message.id, Message.body)
                .where(
                    text(UNMASKED_OTP),  # the partial index: rows that may hold a clear code
                    status_of_row().not_in(_IN_OUTBOX),
                    Message.id.not_in(live),
                )
                .order_by(Message.created_at)
                .limit(limit)
            ).all()
            masked = [(r.id, _mask_digits(r.body, min_digits)) for r in rows]
            if masked and conn.dialect.name == "postgresql":  # one statement, not one a row
                conn.exec_driver_sql(
                    _MASK_PG,
                    {"ids": [i for i, _ in masked], "bodies": [b for _, b in masked]},
                )
            elif masked:
                conn.execute(
                    update(Message)
                    .where(Message.id == bindparam("b_id"))
                    .values(body=bindparam("b_body"), secret_masked=True),
                    [{"b_id": i, "b_body": b} for i, b in masked],
                )
        return len(rows)

    def resend(
        self,
        account_id: str,
        verification_id: str,
        code_hash: str,
        message_id: str,
        now: datetime,
        cooldown_seconds: float,
    ) -> VerificationRecord | None:
        """Replace the code and count a send if pending, unexpired, under the limit and past the
        cooldown; the row after, or None (nothing written)."""
        stmt = (
            update(Verification)
            .where(
                Verification.id == verification_id,
                Verification.account_id == account_id,
                Verification.status == PENDING,
                Verification.expires_at > now,
                Verification.sends < Verification.max_sends,
                Verification.last_sent_at <= now - timedelta(seconds=cooldown_seconds),
            )
            .values(
                code_hash=code_hash,
                message_id=message_id,
                sends=Verification.sends + 1,
                last_sent_at=now,
                updated_at=now,
            )
            .returning(*_COLUMNS)
        )
        with self.engine.begin() as conn:
            row = conn.execute(stmt).first()
        return _record(row) if row else None

    def cancel(self, account_id: str, verification_id: str, now: datetime) -> bool:
        """Cancel a pending, unexpired verification; True when it changed."""
        stmt = (
            update(Verification)
            .where(
                Verification.id == verification_id,
                Verification.account_id == account_id,
                Verification.status == PENDING,
                Verification.expires_at > now,
            )
            .values(status=CANCELED, updated_at=now)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    # -- pumping guard -----------------------------------------------------------------

    def prefix_counts(
        self,
        prefix: str,
        recent_start: datetime,
        settled_before: datetime,
        baseline_start: datetime,
    ) -> PrefixCounts:
        """Sends to `prefix` since `recent_start` and in the baseline before it, and conversion of
        the recent verifications created before `settled_before`."""
        v = Verification
        recent = v.created_at >= recent_start
        settled = recent & (v.created_at < settled_before)
        query = select(
            func.coalesce(func.sum(case((recent, v.sends), else_=0)), 0),
            func.coalesce(func.sum(case((recent, 0), else_=v.sends)), 0),
            func.coalesce(func.sum(case((settled, 1), else_=0)), 0),
            func.coalesce(func.sum(case((settled & (v.status == APPROVED), 1), else_=0)), 0),
        ).where(v.prefix == prefix, v.created_at >= baseline_start)
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return PrefixCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def block(self, prefix: str, now: datetime, until: datetime, reason: str) -> bool:
        """Block `prefix` until `until` unless a block holds; True when this call blocked it."""
        with self.engine.begin() as conn:
            existing = conn.execute(select(PrefixBlock).where(PrefixBlock.prefix == prefix)).first()
            if existing is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(PrefixBlock).values(
                                prefix=prefix,
                                blocked_at=now,
                                until=until,
                                reason=reason,
                                lifted_at=None,
                            )
                        )
                except IntegrityError:
                    return False  # another process blocked it just now
                return True
            changed = conn.execute(
                update(PrefixBlock)
                .where(
                    PrefixBlock.prefix == prefix,
                    (PrefixBlock.until <= now) | PrefixBlock.lifted_at.is_not(None),
                )
                .values(blocked_at=now, until=until, reason=reason, lifted_at=None)
            ).rowcount
            return changed == 1

    def lift(self, prefix: str, now: datetime) -> bool:
        """Lift an active block on `prefix`; True when one was lifted."""
        stmt = (
            update(PrefixBlock)
            .where(
                PrefixBlock.prefix == prefix,
                PrefixBlock.lifted_at.is_(None),
                PrefixBlock.until > now,
            )
            .values(lifted_at=now)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def blocks(self) -> list[BlockRecord]:
        """Every block row, active or not (callers filter with `otp.Block.active`)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(PrefixBlock).order_by(PrefixBlock.blocked_at)).all()
        return [_block(r) for r in rows]
