"""Group commit: a bad row fails alone; its neighbours are committed and enqueued."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from api import GroupCommitter
from store import MessageStore, NewMessage, make_engine, new_id, upgrade

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class RecordingOutbox:
    def __init__(self) -> None:
        self.enqueued: list[str] = []

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        self.enqueued.extend(ids)


def test_duplicate_row_fails_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    store = MessageStore(make_engine(url))
    account = store.ensure_account("acme", NOW)
    first = NewMessage(
        new_id(),
        account,
        "+447400123456",
        "Acme",
        "hi",
        "otp",
        "gsm7",
        1,
        None,
        NOW,
        NOW + timedelta(minutes=5),
    )
    store.insert_messages([first])
    outbox = RecordingOutbox()
    committer = GroupCommitter(store, outbox)
    others = [replace(first, id=new_id()) for _ in range(5)]

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(
            *(committer.commit(row) for row in [*others[:2], first, *others[2:]]),
            return_exceptions=True,
        )
        return [r if isinstance(r, BaseException) else None for r in results]

    errors = asyncio.run(main())
    committer.close()
    assert isinstance(errors[2], IntegrityError)
    assert [e for i, e in enumerate(errors) if i != 2] == [None] * 5
    assert sorted(outbox.enqueued) == sorted(r.id for r in others)
    assert store.status_counts() == {"queued": 6}
    with pytest.raises(IntegrityError):
        store.insert_messages([first])
    store.engine.dispose()


def test_a_batch_is_one_unit_it_commits_whole_or_not_at_all(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    store = MessageStore(make_engine(url))
    account = store.ensure_account("acme", NOW)
    taken = NewMessage(
        new_id(), account, "+447400123456", "Acme", "hi", "otp", "gsm7", 1, None, NOW, NOW
    )
    store.insert_messages([taken])
    outbox = RecordingOutbox()
    committer = GroupCommitter(store, outbox, max_batch=10)
    good = [replace(taken, id=new_id()) for _ in range(30)]  # a unit over max_batch: not split
    bad = [replace(taken, id=new_id()), taken]  # its duplicate fails its whole unit
    single = replace(taken, id=new_id())

    async def main() -> list[BaseException | None]:
        results = await asyncio.gather(
            committer.commit_many(good),
            committer.commit_many(bad),
            committer.commit(single),
            return_exceptions=True,
        )
        return [r if isinstance(r, BaseException) else None for r in results]

    errors = asyncio.run(main())
    committer.close()
    assert errors[0] is None and isinstance(errors[1], IntegrityError) and errors[2] is None
    assert sorted(outbox.enqueued) == sorted(r.id for r in [*good, single])
    assert store.status_counts() == {"queued": 1 + 30 + 1}
    store.engine.dispose()


def _committer_store(tmp_path: Path) -> tuple[MessageStore, NewMessage]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    store = MessageStore(make_engine(url))
    account = store.ensure_account("acme", NOW)
    row = NewMessage(
        new_id(), account, "+447400123456", "Acme", "hi", "marketing", "gsm7", 1, None, NOW, NOW
    )
    return store, row


async def _two_commits_apart(
    committer: GroupCommitter, first: NewMessage, second: NewMessage
) -> None:
    """`first`, then `second` 50 ms later (the writer has long found `first` alone)."""
    one = asyncio.ensure_future(committer.commit(first))
    await asyncio.sleep(0.05)
    await asyncio.gather(one, committer.commit(second))


def test_a_lone_row_lingers_for_the_next_and_both_share_one_commit(tmp_path: Path) -> None:
    store, row = _committer_store(tmp_path)
    # A linger far longer than the gap, and a group of two enough to stop it: one commit.
    committer = GroupCommitter(store, RecordingOutbox(), linger=5.0, linger_rows=2)
    asyncio.run(_two_commits_apart(committer, row, replace(row, id=new_id())))
    committer.close()
    assert (committer.commits, committer.rows) == (1, 2)
    store.engine.dispose()


def test_otp_never_lingers_and_no_linger_commits_each_row_alone(tmp_path: Path) -> None:
    store, row = _committer_store(tmp_path)
    otp = replace(row, message_class="otp")
    lingering = GroupCommitter(store, RecordingOutbox(), linger=5.0, linger_rows=2)
    asyncio.run(_two_commits_apart(lingering, otp, replace(otp, id=new_id())))
    lingering.close()
    plain = GroupCommitter(store, RecordingOutbox(), linger=0.0)
    asyncio.run(_two_commits_apart(plain, replace(row, id=new_id()), replace(row, id=new_id())))
    plain.close()
    assert (lingering.commits, lingering.rows) == (2, 2)
    assert (plain.commits, plain.rows) == (2, 2)
    assert store.status_counts() == {"queued": 4}
    store.engine.dispose()


def test_a_negative_linger_is_refused(tmp_path: Path) -> None:
    store, _ = _committer_store(tmp_path)
    with pytest.raises(ValueError, match="linger"):
        GroupCommitter(store, RecordingOutbox(), linger=-1.0)
    store.engine.dispose()
