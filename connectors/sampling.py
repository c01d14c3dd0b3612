"""Seeded random draws the simulators share: weighted choices, per-agency rates, identifiers."""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")


class WeightedChoice(Generic[T]):
    """Draws items in proportion to their weights (bisect on cumulative weights)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if len(items) != len(weights) or not items:
            raise ValueError("WeightedChoice needs as many weights as items, and at least one")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        self.items = tuple(items)
        self._cumulative = list(accumulate(weights))
        self._total = self._cumulative[-1]

    @classmethod
    def from_mapping(cls, weights: Mapping[T, float]) -> WeightedChoice[T]:
        return cls(list(weights), list(weights.values()))

    def draw(self, rng: random.Random) -> T:
        index = bisect(self._cumulative, rng.random() * self._total)
        return self.items[min(index, len(self.items) - 1)]


def spread_rates(
    rng: random.Random,
    target: float,
    volumes: Mapping[str, float],
    sigma: float = 0.35,
    floor: float = 0.005,
    ceiling: float = 0.99,
) -> dict[str, float]:
    """Per-agency probabilities that vary like real agencies do, yet average to `target`.

    Each agency's rate is the target times a log-normal factor; the set is then rescaled until
    its volume-weighted mean equals the target, so calibrated totals hold exactly in expectation.
    """
    total = sum(volumes.values())
    rates = {code: target * math.exp(rng.gauss(0.0, sigma)) for code in sorted(volumes)}
    for _ in range(50):
        rates = {code: min(ceiling, max(floor, rate)) for code, rate in rates.items()}
        mean = sum(rates[code] * volumes[code] for code in rates) / total
        if abs(mean - target) < 1e-12:
            break
        rates = {code: rate * target / mean for code, rate in rates.items()}
    return rates


def new_uuid(rng: random.Random) -> UUID:
    """A version-4 UUID drawn from `rng`, so identifiers repeat with the seed."""
    return UUID(int=rng.getrandbits(128), version=4)


def lognormal_around(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


class Accumulator:
    """Systematic Bernoulli draws: per key, exactly one hit each time the rates add up to one.

    Used for the calibrated rates, so a small simulation still reproduces them to a fraction of a
    percent; the start offsets are random, so which entities are hit still varies with the seed.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._credit: dict[str, float] = {}

    def hit(self, key: str, rate: float) -> bool:
        credit = self._credit.get(key)
        if credit is None:
            credit = self._rng.random()
        credit += rate
        if credit >= 1.0:
            self._credit[key] = credit - 1.0
            return True
        self._credit[key] = credit
        return False


class RoundRobin(Generic[T]):
    """Smooth weighted round robin: draws follow the weights exactly, well interleaved."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if len(items) != len(weights) or not items or min(weights) <= 0:
            raise ValueError("RoundRobin needs one positive weight per item")
        self.items = tuple(items)
        self._weights = list(weights)
        self._total = sum(weights)
        self._current = [0.0] * len(items)

    def draw(self) -> T:
        current = self._current
        for index, weight in enumerate(self._weights):
            current[index] += weight
        best = max(range(len(current)), key=current.__getitem__)
        current[best] -= self._total
        return self.items[best]
