"""Simulated feeds are deterministic, time-ordered, valid, and keep lifecycles and links intact."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime

import pytest

from connectors.calendar import VIETNAM_TZ
from connectors.calibration import local_day
from connectors.documents import DocumentSimulator
from connectors.feed_simulator import FeedEvent, FeedSimulator
from connectors.lifecycle import StepQueue
from connectors.ndxp import NdxpSimulator
from connectors.portal import PortalSimulator
from connectors.quota import apportion
from connectors.simulation import SimulationConfig, simulate
from govpulse.events import DocumentEvent, DossierEvent, IncidentEvent, PaymentEvent
from govpulse.events.document import DocumentAction
from govpulse.events.dossier import ALLOWED_TRANSITIONS, FINAL_STATUSES, DossierStatus
from govpulse.events.incident import INCIDENT_STAGE_ORDER
from govpulse.events.payment import PaymentStatus
from govpulse.topics import feed

START, END = local_day(2024, 10, 1), local_day(2024, 10, 11)


@pytest.fixture(scope="module")
def ten_days() -> list[FeedEvent]:
    # Scale 0.004 keeps the test quick; incidents are scaled up separately below.
    return list(simulate(SimulationConfig(seed=11, scale=0.004), START, END))


def test_same_seed_same_events_other_seed_other_events() -> None:
    window = (local_day(2024, 10, 1), local_day(2024, 10, 1).replace(hour=10))
    first = list(simulate(SimulationConfig(seed=1, scale=0.01), *window))
    again = list(simulate(SimulationConfig(seed=1, scale=0.01), *window))
    other = list(simulate(SimulationConfig(seed=2, scale=0.01), *window))
    assert first == again
    assert [e.event_id for _, e in first] != [e.event_id for _, e in other]


def test_events_come_in_event_time_order_inside_the_window(ten_days: list[FeedEvent]) -> None:
    times = [event.occurred_at for _, event in ten_days]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < END
    # Incidents are too rare at this scale; they have their own test below.
    assert {name for name, _ in ten_days} == {
        "portal.dossiers",
        "portal.payments",
        "ndxp.transactions",
        "vdxp.documents",
    }


def test_every_event_is_valid_for_its_feed_and_ids_are_unique(ten_days: list[FeedEvent]) -> None:
    for name, event in ten_days:
        model = feed(name).model
        assert type(event) is model
        assert model.model_validate_json(event.model_dump_json()) == event
    ids = [event.event_id for _, event in ten_days]
    assert len(ids) == len(set(ids))


def test_dossier_lifecycles_follow_the_state_machine(ten_days: list[FeedEvent]) -> None:
    by_dossier: dict[str, list[DossierEvent]] = defaultdict(list)
    for _, event in ten_days:
        if isinstance(event, DossierEvent):
            by_dossier[event.dossier_id].append(event)
    assert len(by_dossier) > 1000
    finished = 0
    for events in by_dossier.values():
        assert events[0].status is DossierStatus.SUBMITTED
        for before, after in itertools.pairwise(events):
            assert after.status in ALLOWED_TRANSITIONS[before.status], (before.status, after.status)
            assert after.occurred_at >= before.occurred_at
        descriptive = {
            (e.agency, e.procedure, e.channel, e.mode, e.submitted_at, e.due_at) for e in events
        }
        assert len(descriptive) == 1
        finished += events[-1].status in FINAL_STATUSES
    assert finished > len(by_dossier) // 3


def test_completions_are_mostly_on_time_with_some_overdue(ten_days: list[FeedEvent]) -> None:
    completed = [
        e
        for _, e in ten_days
        if isinstance(e, DossierEvent) and e.status is DossierStatus.COMPLETED
    ]
    overdue = sum(e.occurred_at > e.due_at for e in completed)
    assert 0 < overdue < len(completed) * 0.2


def test_payments_refer_to_dossiers_already_submitted(ten_days: list[FeedEvent]) -> None:
    submitted: dict[str, DossierEvent] = {}
    payments = 0
    for _, event in ten_days:
        if isinstance(event, DossierEvent) and event.status is DossierStatus.SUBMITTED:
            submitted[event.dossier_id] = event
        elif isinstance(event, PaymentEvent):
            dossier = submitted[event.dossier_id]  # KeyError: a payment for an unknown dossier
            assert event.agency == dossier.agency
            assert event.amount_vnd == dossier.fee_vnd > 0
            assert dossier.mode != "offline"
            assert event.occurred_at >= dossier.submitted_at
            payments += event.status is PaymentStatus.SUCCESS
    assert payments > 50


def test_documents_have_one_send_then_one_receipt_per_listed_receiver(
    ten_days: list[FeedEvent],
) -> None:
    sent: dict[str, DocumentEvent] = {}
    receipts: dict[str, list[str]] = defaultdict(list)
    for _, event in ten_days:
        if not isinstance(event, DocumentEvent):
            continue
        if event.action is DocumentAction.SENT:
            assert event.document_id not in sent
            assert event.sender not in event.receivers
            sent[event.document_id] = event
        else:
            document = sent[event.document_id]  # a receipt before its send would fail here
            assert event.receiver in document.receivers
            assert event.occurred_at >= document.sent_at
            receipts[event.document_id].append(event.receiver)
    for document_id, receivers in receipts.items():
        assert len(receivers) == len(set(receivers))
        assert set(receivers) <= set(sent[document_id].receivers)


def test_incidents_go_through_their_stages_in_order() -> None:
    start, end = local_day(2024, 10, 1), local_day(2024, 11, 1)
    stages: dict[str, list[IncidentEvent]] = defaultdict(list)
    for _, event in simulate(
        SimulationConfig(seed=4, scale=1.0, feeds=("cyber.incidents",)), start, end
    ):
        assert isinstance(event, IncidentEvent)
        stages[event.incident_id].append(event)
    assert len(stages) == 204
    for events in stages.values():
        order = [e.stage for e in events]
        assert order == list(INCIDENT_STAGE_ORDER[: len(order)])
        assert len({(e.category, e.severity, e.target_system, e.detected_at) for e in events}) == 1


def test_working_hours_dominate_and_lunch_dips(ten_days: list[FeedEvent]) -> None:
    by_hour: dict[int, int] = defaultdict(int)
    for _, event in ten_days:
        if isinstance(event, DossierEvent) and event.status is DossierStatus.SUBMITTED:
            local: datetime = event.occurred_at.astimezone(VIETNAM_TZ)
            by_hour[local.hour] += local.weekday() < 5
    assert by_hour[9] > 2 * by_hour[12]  # lunch dip
    assert by_hour[10] > 5 * by_hour[3]  # night


@pytest.mark.parametrize("simulator_type", [PortalSimulator, NdxpSimulator, DocumentSimulator])
def test_a_busy_slot_sends_its_first_events_before_starting_all_its_entities(
    simulator_type: type[FeedSimulator],
) -> None:
    # At the scale of 10k events/s a 15-minute slot starts about a million entities; starting
    # them all before the first event held a live run's output back for many seconds.
    simulator = simulator_type(seed=3, scale=50.0)
    begun = 0
    begin = simulator.begin

    def counting_begin(when: datetime, queue: StepQueue[object]) -> None:
        nonlocal begun
        begun += 1
        begin(when, queue)

    simulator.begin = counting_begin  # type: ignore[method-assign]
    start = local_day(2024, 10, 1).replace(hour=9)
    entities_in_first_slot = next(apportion(simulator.schedule, start, END, simulator.scale))[1]
    events = simulator.events(start, END)
    next(events)
    assert entities_in_first_slot > 10_000
    assert begun <= 2
    # And the slot goes on in event-time order, beginning entities as their time comes.
    times = [event.occurred_at for _, event in itertools.islice(events, 20_000)]
    assert times == sorted(times)
    assert 2 < begun < entities_in_first_slot
