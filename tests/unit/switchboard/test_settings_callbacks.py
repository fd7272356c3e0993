"""The callback allow-list setting: CIDRs, checked at start."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from switchboard.settings import Settings


def test_the_allow_list_is_read_as_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_CALLBACK_ALLOW_PRIVATE", "127.0.0.1/32, 10.0.0.0/8")
    policy = Settings().callback_policy()
    assert policy.allows(ipaddress.ip_address("10.9.8.7"))
    assert not policy.allows(ipaddress.ip_address("192.168.0.1"))


def test_no_allow_list_means_public_addresses_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_CALLBACK_ALLOW_PRIVATE", raising=False)
    assert not Settings().callback_policy().allows(ipaddress.ip_address("127.0.0.1"))


def test_a_bad_cidr_fails_at_start_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="callback_allow_private"):
        Settings(callback_allow_private="10.0.0.0/33")
