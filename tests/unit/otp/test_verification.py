"""The verification state machine: approved once, never on a wrong code; TTL and limits hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from hypothesis import given, settings
from hypothesis import strategies as st

from otp import (
    OtpAlreadyUsed,
    OtpExpired,
    OtpMaxAttempts,
    OtpMaxSends,
    OtpNotPending,
    OtpResendCooldown,
    Verification,
    VerificationStatus,
    admit_cancel,
    apply_check,
    apply_resend,
    code_matches,
    hash_code,
)

SECRET = b"unit-secret"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def pending(code: str = "123456", now: datetime = T0, ttl: int = 600) -> Verification:
    return Verification(
        id="v1",
        account_id="a1",
        to="+447400123456",
        status=VerificationStatus.PENDING,
        code_hash=hash_code(SECRET, "v1", code),
        check_attempts=0,
        max_checks=5,
        sends=1,
        max_sends=5,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        last_sent_at=now,
        message_id="m1",
    )


def check(v: Verification, code: str, now: datetime) -> tuple[Verification, VerificationStatus]:
    new, result = apply_check(v, code_matches(SECRET, v.id, code, v.code_hash), now)
    return new, result.status


@settings(max_examples=300, deadline=None)
@given(
    code=st.text("0123456789", min_size=6, max_size=6),
    guesses=st.lists(
        st.tuples(st.text("0123456789", min_size=4, max_size=10), st.integers(0, 300)), max_size=12
    ),
    right_at=st.one_of(st.none(), st.integers(0, 12)),
)
def test_wrong_code_never_approved_and_right_code_approved_exactly_once(
    code: str, guesses: list[tuple[str, int]], right_at: int | None
) -> None:
    v, now = pending(code), T0
    sequence = list(guesses)
    if right_at is not None:
        sequence.insert(min(right_at, len(sequence)), (code, 0))
        sequence.append((code, 0))  # and the right code once more, after everything
    approvals = 0
    for guess, wait in sequence:
        now += timedelta(seconds=wait)
        before = v
        try:
            v, status = check(v, guess, now)
        except OtpAlreadyUsed:
            assert before.status is VerificationStatus.APPROVED
            continue
        except OtpMaxAttempts:
            assert before.check_attempts == before.max_checks
            continue
        if status is VerificationStatus.APPROVED:
            approvals += 1
            assert guess == code
            assert now < before.expires_at and before.check_attempts < before.max_checks
        assert v.check_attempts <= v.max_checks
    assert approvals <= 1
    if right_at is not None and approvals == 0:
        # the right code was refused only because time or attempts ran out first
        assert now >= v.expires_at or v.check_attempts == v.max_checks


def test_code_is_good_until_the_ttl_and_not_a_moment_after() -> None:
    with freeze_time(T0) as frozen:
        v = pending("424242", now=datetime.now(UTC), ttl=600)
        frozen.tick(timedelta(seconds=599))
        assert check(v, "424242", datetime.now(UTC))[1] is VerificationStatus.APPROVED
        frozen.tick(timedelta(seconds=1))
        assert check(v, "424242", datetime.now(UTC))[1] is VerificationStatus.EXPIRED


def test_expired_check_counts_no_attempt() -> None:
    v = pending()
    new, result = apply_check(v, True, v.expires_at)
    assert new == v and result.status is VerificationStatus.EXPIRED and result.attempts_left == 5


def test_sixth_check_raises_max_attempts_with_retry_after_until_expiry() -> None:
    v = pending("111111")
    for left in [4, 3, 2, 1, 0]:
        v, result = apply_check(v, False, T0)
        assert result.attempts_left == left and result.status is VerificationStatus.PENDING
    with pytest.raises(OtpMaxAttempts) as raised:
        apply_check(v, True, T0 + timedelta(seconds=100))
    assert raised.value.retry_after == 500


def test_resend_cooldown_and_send_limit() -> None:
    with freeze_time(T0) as frozen:
        v = pending(now=datetime.now(UTC))
        frozen.tick(timedelta(seconds=10))
        with pytest.raises(OtpResendCooldown) as raised:
            apply_resend(v, "h", "m2", datetime.now(UTC), 30)
        assert raised.value.retry_after == 20
        for _ in range(4):
            frozen.tick(timedelta(seconds=30))
            v = apply_resend(v, "h", "m2", datetime.now(UTC), 30)
        assert v.sends == 5 and v.sends_left == 0
        frozen.tick(timedelta(seconds=30))
        with pytest.raises(OtpMaxSends):
            apply_resend(v, "h", "m3", datetime.now(UTC), 30)


def test_resend_replaces_the_code() -> None:
    v = pending("111111")
    v = apply_resend(v, hash_code(SECRET, v.id, "222222"), "m2", T0 + timedelta(seconds=30), 30)
    assert check(v, "111111", T0 + timedelta(seconds=31))[1] is VerificationStatus.PENDING
    assert check(v, "222222", T0 + timedelta(seconds=31))[1] is VerificationStatus.APPROVED


def test_no_resend_of_approved_canceled_or_expired() -> None:
    approved = replace(pending(), status=VerificationStatus.APPROVED)
    canceled = replace(pending(), status=VerificationStatus.CANCELED)
    later = T0 + timedelta(seconds=60)
    with pytest.raises(OtpNotPending):
        apply_resend(approved, "h", "m", later, 30)
    with pytest.raises(OtpNotPending):
        apply_resend(canceled, "h", "m", later, 30)
    with pytest.raises(OtpExpired):
        apply_resend(pending(), "h", "m", T0 + timedelta(seconds=600), 30)


def test_cancel_is_idempotent_but_not_after_approval() -> None:
    assert admit_cancel(pending(), T0) is True
    assert admit_cancel(replace(pending(), status=VerificationStatus.CANCELED), T0) is False
    with pytest.raises(OtpAlreadyUsed):
        admit_cancel(replace(pending(), status=VerificationStatus.APPROVED), T0)
    with pytest.raises(OtpExpired):
        admit_cancel(pending(), T0 + timedelta(seconds=600))
