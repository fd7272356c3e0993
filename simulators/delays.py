"""Drawing delays from a scenario's DelayRange (pure: the RNG is passed in)."""

from __future__ import annotations

import random

from simulators.scenario import DelayRange


def draw_ms(delay: DelayRange, rng: random.Random) -> float:
    """A delay in milliseconds: fixed, uniform in [min, max], or min + exponential tail ≤ max."""
    if delay.min == delay.max:
        return delay.min
    if delay.shape == "exponential" and delay.mean is not None:
        return min(delay.max, delay.min + rng.expovariate(1.0 / (delay.mean - delay.min)))
    return rng.uniform(delay.min, delay.max)
