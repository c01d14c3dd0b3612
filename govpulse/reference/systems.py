"""State information systems: a synthetic registry with the published size and classification.

Report 200/BC-BTTTT (seed 002) counts 8,790 state information systems in October 2024, 7,802 of
them classified and protected by level. Individual systems are not published, so the registry is
generated from a fixed seed: the same systems every run, owned by agencies in proportion to their
size, with protection levels 1 to 5 in assumed proportions (None: not yet classified).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from govpulse.reference.agencies import all_agencies

STATE_SYSTEMS = 8_790
STATE_SYSTEMS_CLASSIFIED = 7_802
PROTECTION_LEVEL_SHARES = {1: 0.14, 2: 0.46, 3: 0.30, 4: 0.08, 5: 0.02}  # assumption
_REGISTRY_SEED = "govpulse-state-systems-2024"


@dataclass(frozen=True, slots=True)
class StateSystem:
    code: str
    agency: str
    protection_level: int | None


@cache
def state_systems() -> tuple[StateSystem, ...]:
    rng = random.Random(_REGISTRY_SEED)
    agencies = sorted(all_agencies().values(), key=lambda a: a.code)
    total_weight = sum(a.weight for a in agencies)
    # Every agency runs some systems; the rest go by size (largest remainder keeps the total).
    exact = [STATE_SYSTEMS * a.weight / total_weight for a in agencies]
    base = [max(1, int(x)) for x in exact]
    spare = STATE_SYSTEMS - sum(base)
    order = sorted(range(len(agencies)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in order[: max(0, spare)]:
        base[i] += 1
    levels: list[int | None] = []
    for level, share in PROTECTION_LEVEL_SHARES.items():
        levels += [level] * round(STATE_SYSTEMS_CLASSIFIED * share)
    levels = levels[:STATE_SYSTEMS_CLASSIFIED]
    levels += [levels[-1]] * (STATE_SYSTEMS_CLASSIFIED - len(levels))
    levels += [None] * (STATE_SYSTEMS - len(levels))
    rng.shuffle(levels)
    systems = []
    cursor = 0
    for agency, count in zip(agencies, base, strict=True):
        for number in range(1, count + 1):
            systems.append(
                StateSystem(f"SYS-{agency.code}-{number:04d}", agency.code, levels[cursor])
            )
            cursor += 1
    return tuple(systems)
