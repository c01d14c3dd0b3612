"""What each event contributes to its 1-minute bucket: pure functions, no I/O.

For every feed, `contribution(event)` returns the row key dimensions (after bucket and agency),
the increments of the table's measures in `govpulse.db.tables` order, and one histogram value
(milliseconds) per histogram column, or None where the event adds nothing to it.

The worker runs `ACCUMULATORS[feed](rows, minute, event)` once per counted event instead: the
contribution added straight into its row. For NDXP and dossiers (about 98% of the events) it is
written out by hand, without the contribution's tuples (half the CPU: 0.6 instead of 1.3 µs an
NDXP event, docs/performance.md); for the rest it is the contribution and the row adder.
`tests/unit/test_accumulators.py` holds every accumulator to its contribution.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from govpulse import histogram
from govpulse.db.tables import AGGREGATE_TABLES
from govpulse.events import (
    DocumentEvent,
    DossierEvent,
    Event,
    IncidentEvent,
    NdxpTransaction,
    PaymentEvent,
)
from govpulse.events.document import DocumentAction
from govpulse.events.dossier import DossierStatus
from govpulse.events.payment import PaymentStatus
from govpulse.histogram import BOUNDS_MS, BUCKETS


# A NamedTuple, not a dataclass: one is built per event, and a tuple costs a third as much.
class Contribution(NamedTuple):
    dimensions: tuple[str | int, ...]
    measures: tuple[int, ...]
    histogram_values: tuple[float | None, ...] = ()


def _dossier(event: Event) -> Contribution:
    event = cast(DossierEvent, event)  # a model or its fast struct
    submitted = event.status is DossierStatus.SUBMITTED
    completed = event.status is DossierStatus.COMPLETED
    on_time = completed and event.occurred_at <= event.due_at
    processing_s = int((event.occurred_at - event.submitted_at).total_seconds()) if completed else 0
    return Contribution(
        (event.channel.value, event.mode.value, event.status.value, event.field),
        (
            1,
            int(on_time),
            int(completed and not on_time),
            int(submitted and event.digitised),
            int(submitted and event.data_reused),
            event.fee_vnd if submitted else 0,
            processing_s,
        ),
    )


def _payment(event: Event) -> Contribution:
    event = cast(PaymentEvent, event)  # a model or its fast struct
    paid = event.status is PaymentStatus.SUCCESS
    return Contribution(
        (event.payment_channel, event.status.value), (1, event.amount_vnd if paid else 0)
    )


def _ndxp(event: Event) -> Contribution:
    event = cast(NdxpTransaction, event)  # a model or its fast struct
    return Contribution(
        (event.service, event.provider, event.result.value),
        (1, event.latency_ms, event.bytes),
        (float(event.latency_ms),),
    )


def _incident(event: Event) -> Contribution:
    event = cast(IncidentEvent, event)  # a model or its fast struct
    elapsed = int((event.occurred_at - event.detected_at).total_seconds())
    return Contribution(
        (
            event.category.value,
            event.severity.value,
            event.stage.value,
            event.protection_level or 0,
        ),
        (1, elapsed),
    )


def _document(event: Event) -> Contribution:
    event = cast(DocumentEvent, event)  # a model or its fast struct
    if event.action is DocumentAction.SENT:
        return Contribution(
            (event.action.value, event.urgency.value, ""),
            (1, len(event.receivers), int(not event.signature_valid), 0),
            (None,),
        )
    delivery_ms = int((event.occurred_at - event.sent_at).total_seconds() * 1000)
    status = event.delivery_status.value if event.delivery_status else ""
    return Contribution(
        (event.action.value, event.urgency.value, status),
        (1, 0, int(not event.signature_valid), delivery_ms),
        (float(delivery_ms),),
    )


CONTRIBUTIONS: dict[str, Callable[[Event], Contribution]] = {
    "portal.dossiers": _dossier,
    "portal.payments": _payment,
    "ndxp.transactions": _ndxp,
    "cyber.incidents": _incident,
    "vdxp.documents": _document,
}
assert set(CONTRIBUTIONS) == set(AGGREGATE_TABLES)


# Adds one contribution into a dict of rows (key -> measures then histograms), creating the row.
RowAdder = Callable[
    [dict[tuple[object, ...], list[object]], tuple[object, ...], Contribution], None
]


def row_adder(width: int, histograms: int) -> RowAdder:
    """A row adder unrolled for a table of `width` measures and `histograms` histograms.

    It runs once per counted event: unrolled, it costs about a third of the loops over
    `enumerate(measures)` it replaces. The generated source uses no outside input but the two
    counts, so `exec` here is code generation, not evaluation of data.
    """
    new_hists = [
        f"h{i} = [0] * {histogram.BUCKETS}\n"
        f"        if v[{i}] is not None:\n"
        f"            h{i}[bucket_of(v[{i}])] = 1"
        for i in range(histograms)
    ]
    adds = [f"row[{i}] += m[{i}]" for i in range(width)]
    adds += [
        f"if v[{i}] is not None:\n        row[{width + i}][bucket_of(v[{i}])] += 1"
        for i in range(histograms)
    ]
    row = ", ".join([f"m[{i}]" for i in range(width)] + [f"h{i}" for i in range(histograms)])
    source = (
        "def add(rows, key, part):\n"
        "    m = part[1]\n"
        + ("    v = part[2]\n" if histograms else "")
        + "    row = rows.get(key)\n"
        "    if row is None:\n"
        + "".join(f"        {line}\n" for line in new_hists)
        + f"        rows[key] = [{row}]\n"
        "        return\n" + "".join(f"    {line}\n" for line in adds)
    )
    namespace: dict[str, Any] = {"bucket_of": histogram.bucket_of}
    exec(compile(source, f"<row adder {width}+{histograms}>", "exec"), namespace)
    adder: RowAdder = namespace["add"]
    return adder


# Rows of one aggregate table: (minute, agency, *dimensions) -> measures then histograms.
Rows = dict[tuple[Any, ...], list[Any]]
Accumulate = Callable[[Rows, int, Any], None]
"""(rows, event minute since the epoch, event) -> None: adds the event's contribution."""


def accumulator_from(contribution: Callable[[Event], Contribution], feed: str) -> Accumulate:
    """The contribution, then the row adder: the reference the hand-written ones must equal."""
    table = AGGREGATE_TABLES[feed]
    add = row_adder(len(table.measures), len(table.histograms))

    def accumulate(rows: Rows, minute: int, event: Any) -> None:
        part = contribution(event)
        add(rows, (minute, event.agency, *part[0]), part)

    return accumulate


# The two below repeat `_ndxp` and `_dossier` above in one step each; keep them in step (the
# test compares them on a simulated day and on edge cases).
_SUBMITTED = DossierStatus.SUBMITTED
_COMPLETED = DossierStatus.COMPLETED


def _accumulate_ndxp(rows: Rows, minute: int, event: Any) -> None:
    latency = event.latency_ms
    key = (minute, event.agency, event.service, event.provider, event.result.value)
    row = rows.get(key)
    if row is None:
        latencies = [0] * BUCKETS
        latencies[bisect_left(BOUNDS_MS, latency)] = 1  # histogram.bucket_of, inlined
        rows[key] = [1, latency, event.bytes, latencies]
        return
    row[0] += 1
    row[1] += latency
    row[2] += event.bytes
    row[3][bisect_left(BOUNDS_MS, latency)] += 1


def _accumulate_dossier(rows: Rows, minute: int, event: Any) -> None:
    status = event.status
    key = (minute, event.agency, event.channel.value, event.mode.value, status.value, event.field)
    on_time = late = digitised = reused = 0
    fee = processing_s = 0
    if status is _SUBMITTED:
        digitised = 1 if event.digitised else 0
        reused = 1 if event.data_reused else 0
        fee = event.fee_vnd
    elif status is _COMPLETED:
        occurred_at = event.occurred_at
        if occurred_at <= event.due_at:
            on_time = 1
        else:
            late = 1
        processing_s = int((occurred_at - event.submitted_at).total_seconds())
    row = rows.get(key)
    if row is None:
        rows[key] = [1, on_time, late, digitised, reused, fee, processing_s]
        return
    row[0] += 1
    row[1] += on_time
    row[2] += late
    row[3] += digitised
    row[4] += reused
    row[5] += fee
    row[6] += processing_s


_BY_HAND: dict[str, Accumulate] = {
    "ndxp.transactions": _accumulate_ndxp,
    "portal.dossiers": _accumulate_dossier,
}
ACCUMULATORS: dict[str, Accumulate] = {
    feed: _BY_HAND.get(feed) or accumulator_from(contribution, feed)
    for feed, contribution in CONTRIBUTIONS.items()
}
