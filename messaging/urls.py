"""Where a callback may go (the SSRF guard's rules, pure: no DNS, no sockets).

A customer chooses its `callback_url`, and our workers POST to it from inside our network; so a
URL must be http(s) and its host must be (or resolve only to) public addresses. Refused:
loopback, RFC 1918 private, link-local (169.254/16, with the cloud metadata address), CGNAT
100.64/10 (RFC 6598), multicast, unspecified, reserved, IPv6 ULA/link-local/loopback, and the
IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
`64:ff9b::/96`, 6to4 `2002::/16`) when the address they carry is refused. Hosts written as
numbers the way `inet_aton` (and so `getaddrinfo`) reads them — `2130706433`, `0177.0.0.1`,
`0x7f.1`, `127.1` — are read as the address they name (WHATWG URL §3.5, IPv4 parser).

An operator allow-list (`CallbackPolicy.allow_private`, CIDRs) lets chosen private networks
through, for tests and on-premises receivers. The same policy is applied twice: by the API
before anything is stored (names resolved there), and by the callback dispatcher at delivery
time on the addresses it is about to connect to (DNS can change between the two).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from messaging.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598; not `is_private` in Python
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible (RFC 4291 §2.5.5.1)
# Characters parsers disagree about (`\` is a path separator to WHATWG, not to urllib):
# refusing them keeps the host we check the host the HTTP client connects to.
_AMBIGUOUS = re.compile(r"[\s\\\x00-\x1f\x7f]")
_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


class CallbackUrlForbidden(InvalidInput):
    """The callback URL points where our workers must not send (a private address)."""

    code = "callback_url_forbidden"


@dataclass(frozen=True)
class CallbackTarget:
    """The checked parts of a callback URL: `address` is set when the host is a literal."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """`"127.0.0.1/32, 10.0.0.0/8"` as networks (a bare address is its own /32 or /128).

    Raises:
        ValueError: an entry is not a CIDR (host bits set count as an error).
    """
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


def _numeric_part(part: str) -> int | None:
    """One dotted part as `inet_aton` reads it: 0x… hex, 0… octal, else decimal."""
    if not _NUMERIC_PART.match(part):
        return None
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if part.isdigit() and set(part) <= set("01234567") else None
    return int(part)


def numeric_host(host: str) -> IPAddress | None:
    """The address a host names when it is written as numbers, else None (a name).

    Reads IPv6 literals (brackets optional) and every IPv4 form `inet_aton` accepts: one to four
    dotted parts, each decimal, octal (leading 0) or hex (0x), the last filling the bytes left.

    Raises:
        CallbackUrlForbidden: the host is all numbers but names no address (e.g. `256.1.1.1`,
            `09.1.1.1`): resolvers read such hosts in ways that differ, so none is accepted.
    """
    bare = host.strip("[]")
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare)
        except ValueError:
            raise CallbackUrlForbidden("callback_url", f"{host!r} is not an address") from None
    parts = bare.rstrip(".").split(".") if bare not in ("", ".") else [bare]
    if not parts or not _NUMERIC_PART.match(parts[-1]):
        return None  # WHATWG: a host is IPv4 when its last part is a number
    values = [_numeric_part(p) for p in parts]
    if len(parts) > 4 or any(v is None for v in values):
        raise CallbackUrlForbidden("callback_url", f"{host!r} is not a valid address")
    numbers = [v for v in values if v is not None]
    *head, last = numbers
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(numbers)):
        raise CallbackUrlForbidden("callback_url", f"{host!r} is not a valid address")
    value = last
    for i, v in enumerate(head):
        value += v << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why a callback must not go to `address` (ignoring any allow-list), or None if public."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return "a scoped (link-local) address"
    inner = embedded_ipv4(address)
    if inner is not None:
        problem = address_problem(inner)
        return f"{problem} (inside {address})" if problem else None
    checks = (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _CGNAT, "a CGNAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for hit, reason in checks if hit), None)


@dataclass(frozen=True)
class CallbackPolicy:
    """The callback rules of one deployment: public addresses, plus `allow_private` networks."""

    allow_private: tuple[IPNetwork, ...] = ()

    def allows(self, address: IPAddress) -> bool:
        """True when a callback may be POSTed to `address`."""
        candidates = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        for candidate in candidates:
            if any(
                candidate.version == net.version and candidate in net for net in self.allow_private
            ):
                return True
        return address_problem(address) is None

    def check_address(self, host: str, address: IPAddress) -> None:
        """Raise `CallbackUrlForbidden` unless a callback may go to `address` (of `host`)."""
        if not self.allows(address):
            where = host if host == str(address) else f"{host} ({address})"
            raise CallbackUrlForbidden(
                "callback_url",
                f"{where} is {address_problem(address)}; callbacks go to public hosts",
            )

    def check_resolved(self, host: str, addresses: Iterable[str]) -> list[IPAddress]:
        """Every address `host` resolved to, checked: one refused address refuses the host.

        Raises:
            CallbackUrlForbidden: no address, or one that is not allowed.
        """
        checked = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        if not checked:
            raise CallbackUrlForbidden("callback_url", f"{host} does not resolve")
        for address in checked:
            self.check_address(host, address)
        return checked

    def check_url(self, url: str) -> CallbackTarget:
        """Check what can be checked without DNS: scheme, host syntax, literal addresses.

        Remembered per (policy, URL): an account sends every message with the same few URLs,
        and the check is a pure function of the two (~6.6 µs a call; refusals are not kept).

        Raises:
            InvalidInput: not an http(s) URL with a host.
            CallbackUrlForbidden: a literal (or numeric) host that is not allowed, credentials
                in the URL, or characters parsers read differently.
        """
        return _checked_url(self, url)

    def _check_url(self, url: str) -> CallbackTarget:
        if _AMBIGUOUS.search(url):
            raise CallbackUrlForbidden("callback_url", "contains whitespace, `\\` or controls")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidInput("callback_url", "must be an http(s) URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("callback_url", "must be an http(s) URL")
        if "@" in parts.netloc:
            raise CallbackUrlForbidden("callback_url", "must not carry credentials (user@host)")
        host = parts.hostname.rstrip(".") or parts.hostname
        address = numeric_host(host)
        if address is not None:
            self.check_address(host, address)
        if host == "localhost" or host.endswith(".localhost"):  # RFC 6761 §6.3
            self.check_address(host, ipaddress.IPv4Address("127.0.0.1"))
        default_port = 443 if scheme == "https" else 80
        return CallbackTarget(scheme, host, port or default_port, address)


@functools.lru_cache(maxsize=4096)
def _checked_url(policy: CallbackPolicy, url: str) -> CallbackTarget:
    return policy._check_url(url)
