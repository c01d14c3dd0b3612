"""Replay pacing: event time runs `speed` times the wall clock; late arrivals never hold it back."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.calibration import local_day
from connectors.clock import ManualClock, SystemClock
from connectors.faults import Outgoing
from connectors.replay import open_source, recording_source, replay
from connectors.simulation import SimulationConfig, simulate
from govpulse.recording import RecordingWriter
from govpulse.settings import DatabaseSettings, KafkaSettings

START = local_day(2024, 10, 1).replace(hour=9)


class TimedSink:
    def __init__(self, clock: ManualClock | SystemClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, Outgoing]] = []

    def send(self, out: Outgoing) -> None:
        self.sent.append((self.clock.monotonic(), out))

    def poll(self) -> None:
        pass


@pytest.fixture(scope="module")
def half_hour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "half-hour.ndjson.gz"
    config = SimulationConfig(seed=3, scale=0.01, feeds=("ndxp.transactions", "vdxp.documents"))
    with RecordingWriter(path) as writer:
        for feed_name, event in simulate(config, START, START + timedelta(minutes=30)):
            writer.write(feed_name, event)
    return path


def test_pacing_follows_event_time_exactly_on_a_manual_clock(half_hour: Path) -> None:
    clock = ManualClock(START)
    sink = TimedSink(clock)
    result = replay(recording_source(half_hour), sink, clock, speed=60)
    first = sink.sent[0][1].timestamp_ms
    for sent_at, out in sink.sent:
        due = (out.timestamp_ms - first) / 1000 / 60
        assert due - 1e-6 <= sent_at <= due + 0.051
    assert result.events == len(sink.sent) > 1000


@pytest.mark.slow
def test_pacing_at_60x_over_thirty_minutes_of_event_time_is_within_5_percent(
    half_hour: Path,
) -> None:
    clock = SystemClock()
    sink = TimedSink(clock)
    started = time.monotonic()
    replay(recording_source(half_hour), sink, clock, speed=60)
    first = sink.sent[0][1].timestamp_ms
    span_s = (sink.sent[-1][1].timestamp_ms - first) / 1000 / 60
    assert span_s > 28  # thirty minutes of event time, about thirty seconds of wall time
    assert abs((time.monotonic() - started) - span_s) <= 0.05 * span_s
    for sent_at, out in sink.sent[:: max(1, len(sink.sent) // 50)]:
        due = (out.timestamp_ms - first) / 1000 / 60
        assert abs((sent_at - started) - due) <= max(0.05 * due, 0.1)


def test_late_elements_are_sent_at_once_and_order_is_kept(half_hour: Path) -> None:
    elements = list(recording_source(half_hour))
    late = Outgoing("ndxp.transactions", "01", elements[0].timestamp_ms - 3_600_000, b"{}")
    shuffled = [*elements[:100], late, *elements[100:]]
    clock = ManualClock(START)
    sink = TimedSink(clock)
    replay(shuffled, sink, clock, speed=60)
    assert [out for _, out in sink.sent] == shuffled
    assert sink.sent[100][0] == sink.sent[99][0]  # the late one did not wait


def test_a_stopped_replay_reports_where_it_stopped(half_hour: Path) -> None:
    stop = threading.Event()
    clock = ManualClock(START)

    class StoppingSink(TimedSink):
        def send(self, out: Outgoing) -> None:
            super().send(out)
            if len(self.sent) == 500:
                stop.set()

    sink = StoppingSink(clock)
    result = replay(recording_source(half_hour), sink, clock, speed=None, stop=stop)
    assert result.stopped and result.events == 500


def test_recording_source_filters_by_feed_and_event_time(half_hour: Path) -> None:
    until = START + timedelta(minutes=10)
    picked = list(recording_source(half_hour, {"vdxp.documents"}, START, until))
    assert picked and {o.feed for o in picked} == {"vdxp.documents"}
    assert all(
        START.timestamp() * 1000 <= o.timestamp_ms < until.timestamp() * 1000 for o in picked
    )


def test_open_source_reads_a_recording_file_with_its_filters(half_hour: Path) -> None:
    feeds = {"vdxp.documents"}
    until = START + timedelta(minutes=10)
    opened = open_source(str(half_hour), "copy", KafkaSettings(), DatabaseSettings(), feeds,
                         until=until)  # fmt: skip
    assert opened.total is None
    assert [e.value for e in opened.elements] == [
        e.value for e in recording_source(half_hour, feeds, until=until)
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("kafka:copy", "a namespace cannot be replayed into itself"),
        ("kafka:Not-A-Name", "namespace must start with a lowercase letter"),
        ("archive:Not-A-Name", "namespace must start with a lowercase letter"),
        ("no/such/recording.ndjson.gz", "no recording at no/such/recording.ndjson.gz"),
    ],
)
def test_open_source_refuses_what_it_cannot_replay(spec: str, message: str) -> None:
    # Refused before any connection: the settings point nowhere reachable.
    with pytest.raises(ValueError, match=message):
        open_source(spec, "copy", KafkaSettings(), DatabaseSettings(), set())
