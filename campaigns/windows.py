"""Quiet hours: a send window in the recipient's local time (pure; the clock is passed in).

The zone comes from the number (phonenumbers' time-zone data, by prefix). A number whose
prefix spans several zones (most of +1 outside one area code, +61 mobiles, +7) may be sent to
only while the window is open in *every* one of them — the most restrictive reading, since
TCPA-style rules are about the subscriber's own clock and we cannot know which zone that is.
A number with no zone data gets the window in UTC.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones

from messaging import InvalidInput

UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers for a prefix it has no zone for
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_PREFIX_DIGITS = 10  # "+" and phonenumbers' longest time-zone prefix (9 digits)
ZONE_SEPARATOR = " "


@dataclass(frozen=True)
class SendWindow:
    """Local hours a message may be sent in: [start, end), wrapping past midnight if end<start."""

    start: time
    end: time

    @classmethod
    def parse(cls, value: object, field: str = "send_window") -> SendWindow:
        """`{"start": "09:00", "end": "20:00"}` or `"09:00-20:00"`.

        Raises:
            InvalidInput: naming the field and what is wrong with it.
        """
        if isinstance(value, str):
            start_text, sep, end_text = value.partition("-")
            if not sep:
                raise InvalidInput(field, "write the window as HH:MM-HH:MM, e.g. 09:00-20:00")
        elif isinstance(value, dict) and set(value) == {"start", "end"}:
            start_text, end_text = str(value["start"]), str(value["end"])
        else:
            raise InvalidInput(field, 'expected {"start": "HH:MM", "end": "HH:MM"}')
        start = _hhmm(start_text.strip(), f"{field}.start")
        end = _hhmm(end_text.strip(), f"{field}.end")
        if start == end:
            raise InvalidInput(field, "start and end are the same time: the window is empty")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, local: time) -> bool:
        """True when the local time of day `local` is inside the window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def _hhmm(text: str, field: str) -> time:
    match = _HHMM.match(text)
    if match is None:
        raise InvalidInput(field, f"{text!r} is not a time of day as HH:MM (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def zones_for_number(e164: str) -> tuple[str, ...]:
    """The time zones of an E.164 number, sorted (`Etc/Unknown` when there is no data)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return (UNKNOWN_ZONE,)
    zones = phone_timezones.time_zones_for_number(number)
    return tuple(sorted(zones)) if zones else (UNKNOWN_ZONE,)


_ZONE_KEYS: dict[tuple[str, int], str] = {}


def zone_key(e164: str) -> str:
    """The zones of `e164` as one string (`zones_of_key` reads it back).

    Cached by the first 9 digits and the length: phonenumbers keys its zone data by prefixes
    of at most 9 digits, and the length with those digits decides mobile vs fixed (a parse
    and a lookup cost ~15 µs; an audience of millions shares a few thousand prefixes).
    """
    cache_key = (e164[:_PREFIX_DIGITS], len(e164))
    key = _ZONE_KEYS.get(cache_key)
    if key is None:
        if len(_ZONE_KEYS) > 100_000:
            _ZONE_KEYS.clear()
        key = _ZONE_KEYS[cache_key] = ZONE_SEPARATOR.join(zones_for_number(e164))
    return key


def zones_of_key(key: str) -> tuple[str, ...]:
    """The zones a `zone_key` names."""
    return tuple(key.split(ZONE_SEPARATOR)) if key else (UNKNOWN_ZONE,)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo("UTC" if name == UNKNOWN_ZONE else name)


def is_open(window: SendWindow | None, zones: tuple[str, ...], now: datetime) -> bool:
    """True when `now` (aware) is inside the window in every one of `zones`."""
    if window is None:
        return True
    return all(window.contains(now.astimezone(_zone(z)).time()) for z in zones)


def next_open(
    window: SendWindow | None, zones: tuple[str, ...], now: datetime, horizon_hours: int = 48
) -> datetime | None:
    """The first minute from `now` at which the window is open in every zone; None when it
    never is within `horizon_hours` (zones so far apart that the windows do not overlap)."""
    if is_open(window, zones, now):
        return now
    step = now.astimezone(UTC).replace(second=0, microsecond=0)
    for _ in range(horizon_hours * 60):
        step += timedelta(minutes=1)
        if is_open(window, zones, step):
            return step
    return None
