"""A worker loads the admission checks' reference tables when it is built, before any record.

Loaded by a feed's first record instead, the tables cost that record 11 ms and were allocated in
the middle of the burst that brought it (`streams.admission.load_references`,
docs/performance.md, eighteenth and nineteenth sessions).
"""

from __future__ import annotations

from govpulse.reference.systems import state_systems
from govpulse.settings import Settings
from streams import admission
from streams.pipeline import build_app

LOADERS = admission.REFERENCE_TABLES


def test_building_a_worker_loads_every_reference_table_the_checks_use() -> None:
    for loader in LOADERS:
        loader.cache_clear()  # other tests in this process may have loaded them already
    build_app(Settings(namespace="worker_start"), probe_broker=False)
    assert {loader.__name__: loader.cache_info().currsize for loader in LOADERS} == {
        loader.__name__: 1 for loader in LOADERS
    }
    # Loaded, not just touched: the incidents' owners hold every state system.
    assert len(admission._system_owners()) == len(state_systems())
