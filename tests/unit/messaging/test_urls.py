"""The SSRF guard's rules: private addresses refused in every spelling, public ones let through."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging import InvalidInput
from messaging.urls import (
    CallbackPolicy,
    CallbackTarget,
    CallbackUrlForbidden,
    address_problem,
    numeric_host,
    parse_networks,
)

FORBIDDEN_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "192.0.2.0/24",
]
FORBIDDEN_V6 = ["::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "::/128"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4009::200e"]
POLICY = CallbackPolicy()


def addresses_in(
    cidrs: list[str],
) -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Any address of any of `cidrs`."""
    nets = [ipaddress.ip_network(c) for c in cidrs]
    return st.sampled_from(nets).flatmap(
        lambda n: st.integers(0, n.num_addresses - 1).map(lambda i: n[i])
    )


def spellings(address: ipaddress.IPv4Address) -> list[str]:
    """Ways to write one IPv4 address in a URL host that `inet_aton` reads the same."""
    a, b, c, d = address.packed
    n = int(address)
    return [
        str(address),
        str(n),  # decimal
        hex(n),  # one hex number
        ".".join(f"0{x:o}" for x in address.packed),  # octal parts
        ".".join(hex(x) for x in address.packed),
        f"{a}.{(b << 16) | (c << 8) | d}",  # a.b24
        f"{a}.{b}.{(c << 8) | d}",  # a.b.c16
        f"{hex(a)}.0{(b << 16) | (c << 8) | d:o}",  # hex, then octal
        f"[::ffff:{address}]",
        f"[::{address}]" if n > 1 else str(address),
        f"[64:ff9b::{address}]",
    ]


@given(addresses_in(FORBIDDEN_V4))
def test_a_private_ipv4_address_is_refused_in_every_spelling(
    address: ipaddress.IPv4Address,
) -> None:
    for host in spellings(address):
        assert numeric_host(host.strip("[]")) is not None, host
        with pytest.raises(CallbackUrlForbidden):
            POLICY.check_url(f"http://{host}:8080/cb")


@given(addresses_in(FORBIDDEN_V6))
def test_a_private_ipv6_address_is_refused(address: ipaddress.IPv6Address) -> None:
    with pytest.raises(CallbackUrlForbidden):
        POLICY.check_url(f"https://[{address}]/cb")


@given(st.integers(0, 2**32 - 1))
def test_every_numeric_spelling_names_the_same_address(n: int) -> None:
    address = ipaddress.IPv4Address(n)
    for host in spellings(address)[:8]:
        assert numeric_host(host) == address, host


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "0x7f000001",
        "017700000001",
        "127.0.0.1.",
        "169.254.169.254",
        "[::ffff:169.254.169.254]",
        "[::ffff:7f00:1]",
        "[fe80::1%25eth0]",
        "[fd00::1]",
        "0",
        "localhost",
        "api.localhost",
        "100.64.0.1",
        "[2002:7f00:1::]",
    ],
)
def test_known_tricks_are_refused(host: str) -> None:
    with pytest.raises(CallbackUrlForbidden):
        POLICY.check_url(f"http://{host}/latest/meta-data")


@pytest.mark.parametrize("host", ["256.1.1.1", "1.2.3.4.5", "09.1.1.1", "1.0x100.1.1", "a.1"])
def test_a_numeric_host_that_names_no_address_is_refused(host: str) -> None:
    with pytest.raises(CallbackUrlForbidden):
        POLICY.check_url(f"http://{host}/cb")


@pytest.mark.parametrize(
    "url",
    ["http://evil.example\\@127.0.0.1/", "http://user:pw@example.com/", "http://exa mple.com/"],
)
def test_urls_parsers_read_differently_are_refused(url: str) -> None:
    with pytest.raises(CallbackUrlForbidden):
        POLICY.check_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http:///x", "x"])
def test_only_http_urls_with_a_host_are_urls(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        POLICY.check_url(url)
    assert caught.value.code in ("invalid_input", "callback_url_forbidden")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_names_pass(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_problem(ip) is None
    host = f"[{address}]" if ip.version == 6 else address
    target = POLICY.check_url(f"https://{host}/cb")
    assert target.address == ip and target.port == 443
    named = POLICY.check_url("http://hooks.example.com:8443/cb")
    assert (named.host, named.port, named.address) == ("hooks.example.com", 8443, None)


def test_the_allow_list_lets_its_networks_through_and_nothing_else() -> None:
    policy = CallbackPolicy(parse_networks("127.0.0.1/32, 10.0.0.0/8"))
    for url in [
        "http://127.0.0.1:9/cb",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.1.2.3/",
        "http://localhost/",
    ]:
        policy.check_url(url)
    for url in ["http://127.0.0.2/", "http://192.168.1.1/", "http://169.254.169.254/"]:
        with pytest.raises(CallbackUrlForbidden):
            policy.check_url(url)


def test_a_resolved_host_is_refused_when_any_address_is_private() -> None:
    assert POLICY.check_resolved("hooks.example.com", ["93.184.216.34"]) == [
        ipaddress.ip_address("93.184.216.34")
    ]
    with pytest.raises(CallbackUrlForbidden):
        POLICY.check_resolved("rebind.example.com", ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(CallbackUrlForbidden):
        POLICY.check_resolved("nothing.example.com", [])


def test_a_bad_allow_list_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1/33"):
        parse_networks("127.0.0.1/33")


_PART = st.tuples(st.integers(0, 2**32 - 1), st.sampled_from(["dec", "oct", "hex"])).map(
    lambda p: {"dec": str(p[0]), "oct": f"0{p[0]:o}", "hex": hex(p[0])}[p[1]]
)


@given(st.lists(_PART, min_size=1, max_size=4).map(".".join))
def test_numeric_hosts_are_read_as_inet_aton_reads_them(host: str) -> None:
    """What the resolver would make of the host (`getaddrinfo` → `inet_aton`) is what we check."""
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        with pytest.raises(CallbackUrlForbidden):
            numeric_host(host)
        return
    assert numeric_host(host) == expected


def test_a_remembered_check_answers_per_policy_and_never_remembers_a_refusal() -> None:
    url = "http://127.0.0.1:8080/hook"
    strict, lenient = CallbackPolicy(), CallbackPolicy(parse_networks("127.0.0.1/32"))
    assert (
        lenient.check_url(url)
        == lenient.check_url(url)
        == CallbackTarget("http", "127.0.0.1", 8080, ipaddress.IPv4Address("127.0.0.1"))
    )
    for _ in range(2):  # the lenient policy's answer is not the strict one's
        with pytest.raises(CallbackUrlForbidden, match="loopback"):
            strict.check_url(url)
