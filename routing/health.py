"""What the engine knows of carrier health: a frozen snapshot the worker reads before routing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Circuit(StrEnum):
    """Circuit-breaker state of a carrier, shared by every worker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class CarrierHealth:
    """One carrier's health: score in [0, 1], circuit state, whether any session is bound.

    `capacity_left` is what the caller read of the carrier's MPS bucket (tokens, i.e. PDUs,
    left now) or None when unknown. A carrier with fewer tokens than a message has segments is
    still a valid fallback, so the engine moves it to the end instead of leaving it out.
    """

    score: float = 1.0
    circuit: Circuit = Circuit.CLOSED
    bound: bool = True
    capacity_left: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        if self.capacity_left is not None and not self.capacity_left >= 0.0:
            raise ValueError(f"capacity_left must be >= 0, got {self.capacity_left}")

    @property
    def usable(self) -> bool:
        """May take traffic at all: circuit not open, bound, score above 0."""
        return self.circuit is not Circuit.OPEN and self.bound and self.score > 0.0


HEALTHY = CarrierHealth()


def _no_carriers() -> Mapping[str, CarrierHealth]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Health of every carrier at one moment; carriers not listed are healthy."""

    carriers: Mapping[str, CarrierHealth] = field(default_factory=_no_carriers)
    # The same entries as a plain dict, for the engine's hot path (a mappingproxy lookup costs
    # about twice a dict's). Never mutated: only `carriers` is handed out to callers.
    states: dict[str, CarrierHealth] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen means frozen: keep a read-only copy, whatever mapping the caller passed.
        states = dict(self.carriers)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "carriers", MappingProxyType(states))

    @classmethod
    def empty(cls) -> Snapshot:
        """Everything healthy: score 1.0, circuit closed, bound."""
        return cls()

    @classmethod
    def of(cls, carriers: Mapping[str, CarrierHealth]) -> Snapshot:
        """A snapshot holding a frozen copy of `carriers`."""
        return cls(dict(carriers))

    def health(self, carrier: str) -> CarrierHealth:
        """Health of `carrier` (healthy when unknown)."""
        return self.carriers.get(carrier, HEALTHY)
