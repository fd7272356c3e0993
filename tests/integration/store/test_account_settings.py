"""An account's own inbound settings on each backend: stored whole, and overriding the routes
file's `inbound_url` and reply texts for that account's MOs (not for another account's)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from store import AccountSettings, AccountSettingsStore, MessageStore
from store.models import Message
from tests.integration.store.test_inbound_actions import ACTIONS, NOW, OWNERS, URL, _classify, _mo

OWN_URL = "https://own.example/mo"


def _body(store: MessageStore, message_id: str) -> str:
    with store.engine.connect() as conn:
        found = conn.execute(select(Message.body).where(Message.id == message_id))
        return str(found.scalar_one())


def test_settings_are_replaced_whole_and_unset_ones_read_as_none(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    settings = AccountSettingsStore(store.engine)
    assert settings.get(acme) == AccountSettings()
    first = settings.put(acme, AccountSettings(OWN_URL, reply_help="Acme help"), NOW)
    assert (first.inbound_url, first.reply_help, first.updated_at) == (OWN_URL, "Acme help", NOW)
    later = NOW + timedelta(minutes=1)
    second = settings.put(acme, AccountSettings(reply_auto=""), later)
    assert second == AccountSettings(reply_auto="", updated_at=later)
    assert settings.get(acme) == second


def test_the_accounts_own_url_and_texts_override_the_routes_files(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    AccountSettingsStore(store.engine).put(
        acme, AccountSettings(OWN_URL, reply_help="Acme's own help", reply_auto=""), NOW
    )
    helped = store.write_inbound([_mo("HELP")], OWNERS.get, _classify, ACTIONS)
    hello = store.write_inbound([_mo("hello", at=1)], OWNERS.get, _classify, ACTIONS)

    assert [e.url for e in helped.events + hello.events] == [OWN_URL, OWN_URL]
    (reply_id,) = helped.replies
    assert _body(store, reply_id) == "Acme's own help"
    assert hello.replies == ()  # "" turns the file's auto-reply off for this account


def test_unset_settings_fall_back_to_the_routes_file(store: MessageStore) -> None:
    acme = store.ensure_account("acme", NOW)
    AccountSettingsStore(store.engine).put(acme, AccountSettings(reply_stop="Bye"), NOW)
    hello = store.write_inbound([_mo("hello")], OWNERS.get, _classify, ACTIONS)
    (event,) = hello.events
    assert event.url == URL  # the file's
    assert _body(store, hello.replies[0]) == "Acme: we will answer soon"  # the file's
    stop = store.write_inbound([_mo("STOP", at=1)], OWNERS.get, _classify, ACTIONS)
    assert _body(store, stop.replies[0]) == "Bye"  # the file has none


def test_another_accounts_settings_change_nothing_here(store: MessageStore) -> None:
    store.ensure_account("acme", NOW)
    other = store.ensure_account("other", NOW)
    AccountSettingsStore(store.engine).put(other, AccountSettings(OWN_URL, "x", "y", "z", ""), NOW)
    result = store.write_inbound([_mo("HELP")], OWNERS.get, _classify, ACTIONS)
    assert [e.url for e in result.events] == [URL]
    assert _body(store, result.replies[0]) == "Acme: help text"
