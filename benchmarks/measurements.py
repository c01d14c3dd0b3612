"""The measurements of `govpulse bench`, each returning its figures; printing is the CLI's.

(a) raw ceiling: a plain consumer reading and decoding the pre-loaded records; and the plain
    reader, which only parses and counts them (a yardstick of this machine's speed, as issue
    12's was);
(b) pipeline: a worker from the same topics to database aggregates, until the database
    reflects every event, with the worker's CPU time and peak memory;
(c) freshness at a steady offered load: probe events of a dedicated agency, sent at a fixed
    interval inside the load, and the delay until the database counts each of them;
(d) replay rate: producing a recording as fast as the broker takes it;
(e) overload: one-event records offered faster than a worker can take them, for a while, with
    the worker's memory during and after it has caught up (flow control must keep it flat).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import orjson
import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql

from benchmarks.process_stats import sample
from connectors.calibration import local_day
from connectors.clock import SystemClock
from connectors.faults import FaultConfig, Outgoing
from connectors.producer import BatchingProducer
from connectors.replay import recording_source, replay
from connectors.runner import RunOptions, run
from connectors.simulation import SimulationConfig, simulate
from govpulse.codec import decode
from govpulse.events import NdxpTransaction
from govpulse.events.ndxp import NdxpResult
from govpulse.recording import event_time_ms
from govpulse.settings import Settings
from govpulse.topics import FEEDS, feed
from streams.heap import HEAP_TRIM_IDLE_AFTER_S
from streams.partition import SEEN_MARGIN_MINUTES

# What the overload stage waits after the database has counted its events before sampling: the
# worker's idle release (HEAP_TRIM_IDLE_AFTER_S) has run by then, with a flush or two to spare.
IDLE_SETTLE_S = HEAP_TRIM_IDLE_AFTER_S + 3

# A real agency (workers refuse unknown codes), silenced in the load, so its rows are the probe's.
PROBE_AGENCY = "VPCP"


@dataclass(frozen=True)
class Rate:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def load_recording(settings: Settings, recording: Path) -> Rate:
    """(d) Produce a recording into the namespace as fast as possible."""
    producer = BatchingProducer(settings.kafka, settings.namespace)
    try:
        progress = replay(recording_source(recording), producer, SystemClock(), speed=None)
    finally:
        producer.close()
    return Rate(progress.events, progress.elapsed_s)


@dataclass(frozen=True)
class ReadRate:
    """A plain consumer's read of the namespace: over wall time and over this process's CPU
    time, as the pipeline's result gives them."""

    rate: Rate
    per_cpu_second: Rate


def _read_every_record(settings: Settings, count: Callable[[str, bytes], int]) -> ReadRate:
    """Read every record of the namespace's feeds once, from the start, with one kafka-python
    consumer in this process; `count(topic, value)` gives the events of each record."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
    )
    try:
        partitions = [
            TopicPartition(spec.topic(settings.namespace), p)
            for spec in FEEDS.values()
            for p in sorted(consumer.partitions_for_topic(spec.topic(settings.namespace)) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        events = 0
        started, cpu_started = time.monotonic(), time.process_time()
        idle_since, cpu_at_idle = started, cpu_started
        while time.monotonic() - idle_since < 2.0:
            batches = consumer.poll(timeout_ms=200, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    events += count(tp.topic, record.value)
            if batches:
                idle_since, cpu_at_idle = time.monotonic(), time.process_time()
        return ReadRate(Rate(events, idle_since - started), Rate(events, cpu_at_idle - cpu_started))
    finally:
        consumer.close()


def raw_ceiling(settings: Settings) -> ReadRate:
    """(a) Read every record of the namespace's feeds and decode it, with one plain consumer."""
    models = {spec.topic(settings.namespace): spec.model for spec in FEEDS.values()}
    return _read_every_record(
        settings, lambda topic, value: len(decode(models[topic], value).events)
    )


def plain_reader(settings: Settings) -> ReadRate:
    """(a) A yardstick like issue 12's: a consumer that only parses (orjson) and counts events
    per minute and agency; no validation, no database. Its events per CPU-second say how fast
    this machine runs Python on these records today, so the worker's figure can be read against
    it (machines differ by up to half from one day to the next; docs/performance.md)."""
    counts: Counter[tuple[str, str]] = Counter()

    def count(_: str, value: bytes) -> int:
        parsed = orjson.loads(value)
        events = parsed if isinstance(parsed, list) else [parsed]
        for event in events:
            counts[event["occurred_at"][:16], event["agency"]] += 1
        return len(events)

    return _read_every_record(settings, count)


def _aggregate_sum(settings: Settings) -> sql.Composed:
    return sql.SQL(
        "SELECT (SELECT coalesce(sum(events), 0) FROM {d})"
        " + (SELECT coalesce(sum(payments), 0) FROM {p})"
        " + (SELECT coalesce(sum(calls), 0) FROM {n}) + (SELECT coalesce(sum(events), 0) FROM {i})"
        " + (SELECT coalesce(sum(documents), 0) FROM {v})"
    ).format(
        d=sql.Identifier(settings.namespace, "dossier_minute"),
        p=sql.Identifier(settings.namespace, "payment_minute"),
        n=sql.Identifier(settings.namespace, "ndxp_minute"),
        i=sql.Identifier(settings.namespace, "incident_minute"),
        v=sql.Identifier(settings.namespace, "document_minute"),
    )


_CHECKPOINTS = sql.SQL("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
_CHECKPOINTS_SINCE_17 = sql.SQL("SELECT num_timed + num_requested FROM pg_stat_checkpointer")


class DatabaseCounters:
    """What the workers have written, polled over one connection while a stage runs.

    The polls read `pipeline_health` (one row per wall-clock minute, feed and worker, written in
    the same transaction as the aggregates), not the aggregate tables: summing those reads every
    minute row of the namespace, which over a national day is millions of rows four times a
    second on the two cores the pipeline itself runs on (docs/performance.md, sixth session).
    `aggregated()` sums the aggregate tables once, to confirm the end.
    """

    def __init__(self, settings: Settings) -> None:
        self.connection = psycopg.connect(settings.db.conninfo(), autocommit=True)
        health = sql.Identifier(settings.namespace, "pipeline_health")
        self._counted = sql.SQL("SELECT coalesce(sum(counted), 0) FROM {h}").format(h=health)
        self._events_in = sql.SQL("SELECT coalesce(sum(events_in), 0) FROM {h}").format(h=health)
        self._aggregated = _aggregate_sum(settings)

    def _one(self, statement: sql.SQL | sql.Composed) -> int:
        row = self.connection.execute(statement).fetchone()
        return int(row[0]) if row else 0

    def counted(self) -> int:
        """Events counted into the aggregates, by the health counters."""
        return self._one(self._counted)

    def events_in(self) -> int:
        """Events the workers took in: counted, late, invalid or duplicate."""
        return self._one(self._events_in)

    def aggregated(self) -> int:
        """Events in the aggregate tables themselves."""
        return self._one(self._aggregated)

    def checkpoints(self) -> int:
        """Checkpoints the server has started since its statistics were reset: a stage that
        meets one writes every page it touches first in full to the WAL, and the stock
        `max_wal_size` (1 GB) makes the archive's writes force one every few minutes."""
        if self.connection.info.server_version >= 170000:  # moved out of pg_stat_bgwriter
            return self._one(_CHECKPOINTS_SINCE_17)
        return self._one(_CHECKPOINTS)

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class PipelineResult:
    rate: Rate
    worker_cpu_s: float
    worker_peak_mb: float
    # Events counted after the first row over the worker CPU-seconds they took.
    per_cpu_second: Rate = Rate(0, 1.0)
    # Checkpoints the database started while the stage ran (they slow its writes: see
    # DatabaseCounters.checkpoints).
    checkpoints: int = 0


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def pipeline(
    settings: Settings,
    env: dict[str, str],
    expected_events: int,
    log: Path,
    timeout_s: float = 1800,
) -> PipelineResult:
    """(b) Start a worker on pre-loaded topics; time until the database counts every event."""
    worker = start_worker(env, log)
    counters = DatabaseCounters(settings)
    try:
        checkpoints_before = counters.checkpoints()
        started = time.monotonic()
        first_row_at: float | None = None
        peak = 0.0
        cpu = 0.0
        cpu_at_first_row = 0.0
        counted_at_first_row = 0
        while time.monotonic() - started < timeout_s:
            counted = counters.counted()
            now = time.monotonic()
            stats = sample(worker.pid)
            if stats:
                peak, cpu = max(peak, stats.peak_rss_mb), stats.cpu_s
            if counted and first_row_at is None:
                first_row_at, cpu_at_first_row, counted_at_first_row = now, cpu, counted
            if counted >= expected_events and counters.aggregated() >= expected_events:
                # Measured from the first row: the group join and table recovery are start-up.
                begin = first_row_at if first_row_at is not None else started
                # CPU from the first row too: imports and the group join are not per event.
                return PipelineResult(
                    Rate(counted, max(now - begin, 1e-3)), cpu, peak,
                    Rate(counted - counted_at_first_row, max(cpu - cpu_at_first_row, 1e-3)),
                    counters.checkpoints() - checkpoints_before,
                )  # fmt: skip
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); see {log}")
            time.sleep(0.25)
        raise TimeoutError(
            f"the database counted {counters.aggregated()} of {expected_events} events"
        )
    finally:
        counters.close()
        worker.terminate()
        worker.wait(timeout=30)


def _probe_event(now: datetime) -> bytes:
    return (
        NdxpTransaction(
            event_id=uuid.uuid4(),
            occurred_at=now,
            agency=PROBE_AGENCY,
            service="population_identity",
            provider="BCA",
            latency_ms=1,
            result=NdxpResult.OK,
            bytes=1,
        )
        .model_dump_json()
        .encode()
    )


@dataclass(frozen=True)
class FreshnessResult:
    delays: list[float]  # of the probes the database counted, in the order they were sent
    sent: int
    # Events the load producer handed to the Kafka client during the stage (its batches of the
    # last 200 ms not yet among them): the load achieved, below the rate asked for while the
    # simulators start their first slot (docs/performance.md, seventh session) or the client's
    # send blocks on a full buffer.
    load_events: int = 0
    seconds: float = 0.0

    @property
    def load_per_s(self) -> float:
        return self.load_events / self.seconds if self.seconds else 0.0

    @property
    def lost(self) -> int:
        """Probes not counted within the drain's 30 s: reported, never left out silently."""
        return self.sent - len(self.delays)


def freshness(
    settings: Settings,
    env: dict[str, str],
    rate: float,
    seconds: float,
    log: Path,
    probes_per_s: float = 5.0,
) -> FreshnessResult:
    """(c) Delays (s) from producing a probe event to the database counting it, under load."""
    from connectors.runner import scale_for_rate_from

    worker = start_worker(env, log)
    stop = threading.Event()
    _probe_count = ProbeCounter(settings)
    probe_times: list[float] = []
    delays: list[float] = []
    try:
        producer = _one_event_records(settings)
        topic_feed = feed("ndxp.transactions").name
        base = _wait_until_counting(producer, _probe_count)
        load_start = datetime.now(UTC)
        config = SimulationConfig(seed=7, feeds=tuple(FEEDS))
        config = replace(config, scale=scale_for_rate_from(rate, config, load_start, 1.0))
        load_producer = BatchingProducer(settings.kafka, settings.namespace)
        load = threading.Thread(
            target=run,
            daemon=True,
            args=(
                load_producer,
                config,
                FaultConfig(silent_agencies=(PROBE_AGENCY,)),
                RunOptions(start=load_start, duration_s=seconds),
                SystemClock(),
                stop,
            ),
        )
        load.start()

        def note_counted() -> None:
            seen = _probe_count() - base
            while len(delays) < min(seen, len(probe_times)):
                delays.append(time.monotonic() - probe_times[len(delays)])

        interval = 1.0 / probes_per_s
        next_probe = time.monotonic()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if time.monotonic() >= next_probe:
                now = datetime.now(UTC)
                producer.send(
                    Outgoing(
                        topic_feed, PROBE_AGENCY, int(now.timestamp() * 1000), _probe_event(now)
                    )
                )
                producer.flush()
                probe_times.append(time.monotonic())
                next_probe += interval
            note_counted()
            time.sleep(0.01)
        stop.set()
        load_events = sum(load_producer.stats.events.values())
        # Count the last probes before waiting for the load producer to close: that wait (up to
        # 30 s) once stood between a probe's arrival and its counting, and read as a 30 s delay.
        drain = time.monotonic() + 30
        while len(delays) < len(probe_times) and time.monotonic() < drain:
            note_counted()
            time.sleep(0.01)
        load.join(timeout=30)
        load_producer.close()
        producer.close()
        return FreshnessResult(delays, len(probe_times), load_events, seconds)
    finally:
        stop.set()
        _probe_count.close()
        worker.terminate()
        worker.wait(timeout=30)


def _one_event_records(settings: Settings) -> BatchingProducer:
    return BatchingProducer(
        settings.kafka.model_copy(update={"linger_ms": 0, "batch_events": 1}), settings.namespace
    )


def _wait_until_counting(producer: BatchingProducer, probe_count: ProbeCounter) -> int:
    """Send a probe and wait until the database counts it: the worker has joined and flushes."""
    now = datetime.now(UTC)
    producer.send(
        Outgoing("ndxp.transactions", PROBE_AGENCY, int(now.timestamp() * 1000), _probe_event(now))
    )
    producer.flush()
    deadline = time.monotonic() + 120
    while probe_count() < 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not start counting probes within 120 s")
        time.sleep(0.2)
    return probe_count()


@dataclass(frozen=True)
class OverloadResult:
    records: int  # one event each
    offered_records_per_s: float  # what the producer achieved (it shares the machine)
    start_mb: float  # worker RSS once counting (its first probe), before the overload
    warm_mb: float  # ... once it has also counted an earlier event per feed and agency of it
    peak_mb: float  # worker peak RSS over the whole run
    drained_s: float  # from the last record produced until the database counted it
    after_mb: float  # worker RSS once it has caught up
    window_passed_mb: float  # ... and once newer events have moved the grace window past it


def overload(
    settings: Settings,
    env: dict[str, str],
    records_per_s: float,
    seconds: float,
    log: Path,
    scale: float = 3.0,
    timeout_s: float = 1800,
) -> OverloadResult:
    """(e) Offer one-event records at `records_per_s` for `seconds`, then wait for the worker.

    The events are simulated and serialised first, in event-time order, from 08:00 on
    1 October 2024 at `scale` (3.0: about 1.1 million events per hour of event time, so three
    minutes at 6,000 records/s stay inside one busy morning hour and nothing turns late); the
    probe agency is left out, so its row counts only the first probe. The worker is sampled
    once counting, once warm (it has counted an earlier event of each feed and agency the
    overload brings), after catching up, and once newer events have moved the window past it.
    """
    worker = start_worker(env, log)
    probe_count = ProbeCounter(settings)
    counters = DatabaseCounters(settings)
    try:
        producer = _one_event_records(settings)
        _wait_until_counting(producer, probe_count)
        first = sample(worker.pid)
        start_mb = first.rss_mb if first else 0.0
        # Simulated and serialised beforehand: the producer alone must reach the offered rate.
        wanted = int(records_per_s * seconds)
        records = list(islice(_one_event_outgoing(scale), wanted))
        overloaded = {(out.feed, out.key) for out in records}
        # A live worker has seen its partitions and agencies before any burst: one event per
        # feed and agency of the overload, dated the hour before it, makes the worker build what
        # it keeps for each (alert trackers, partition state) before the "warm" sample, so what
        # the overload leaves is told apart from what any first traffic leaves.
        an_hour = timedelta(hours=1)
        earlier = list(
            _one_per_agency(overloaded, _overload_begin() - an_hour, an_hour, seed=13, scale=scale)
        )
        for out in earlier:
            producer.send(out)
        producer.flush()
        counted_before = 1 + len(earlier)  # the first probe and the earlier events
        _wait_for_events(counters, counted_before, time.monotonic() + timeout_s, worker, log)
        time.sleep(IDLE_SETTLE_S)
        warm = sample(worker.pid)
        produced = 0
        began = time.monotonic()
        for out in records:
            ahead = began + produced / records_per_s - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            producer.send(out)
            produced += 1
        newest_ms = max(out.timestamp_ms for out in records) if records else 0
        del records
        producer.close()
        produced_at = time.monotonic()
        offered = produced / max(produced_at - began, 1e-3)
        deadline = produced_at + timeout_s
        _wait_for_events(counters, counted_before + produced, deadline, worker, log)
        drained = time.monotonic() - produced_at
        time.sleep(IDLE_SETTLE_S)  # a few flushes after catching up: what it holds when idle
        after = sample(worker.pid)
        # The ids of the overload's events stay counted for the grace window (duplicates of them
        # count once until then): one newer event per feed and agency of the overload moves
        # every partition's window past them, as an hour of live traffic would.
        newer = list(_past_the_window(overloaded, newest_ms, settings, scale))
        producer = _one_event_records(settings)
        for out in newer:
            producer.send(out)
        producer.close()
        _wait_for_events(counters, counted_before + produced + len(newer), deadline, worker, log)
        time.sleep(IDLE_SETTLE_S)
        last = sample(worker.pid)
        return OverloadResult(
            produced, offered, start_mb, warm.rss_mb if warm else 0.0,
            last.peak_rss_mb if last else 0.0, drained,
            after.rss_mb if after else 0.0, last.rss_mb if last else 0.0,
        )  # fmt: skip
    finally:
        probe_count.close()
        counters.close()
        worker.terminate()
        worker.wait(timeout=30)


def _wait_for_events(
    counters: DatabaseCounters,
    events: int,
    deadline: float,
    worker: subprocess.Popen[bytes],
    log: Path,
) -> None:
    while counters.events_in() < events:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not catch up to {events} events")
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}); see {log}")
        time.sleep(0.5)


def _past_the_window(
    wanted: set[tuple[str, str]], newest_ms: int, settings: Settings, scale: float
) -> Iterator[Outgoing]:
    """One simulated event for each (feed, agency) in `wanted`, dated after the grace window
    (and the id window's margin) has left `newest_ms` behind; those not simulated within three
    hours are left out (an agency that quiet shares its partition with busier ones)."""
    zone = local_day(2024, 10, 1).tzinfo
    begin = datetime.fromtimestamp(newest_ms / 1000, zone) + timedelta(
        seconds=settings.streams.grace_s, minutes=SEEN_MARGIN_MINUTES + 2
    )
    return _one_per_agency(wanted, begin, timedelta(hours=3), seed=12, scale=scale)


def _overload_begin() -> datetime:
    return local_day(2024, 10, 1).replace(hour=8)


def _one_per_agency(
    wanted: set[tuple[str, str]], begin: datetime, span: timedelta, seed: int, scale: float
) -> Iterator[Outgoing]:
    """The first simulated event of each (feed, agency) in `wanted` within `span` from `begin`;
    those not simulated in it are left out (an agency that quiet shares its partition with busier
    ones)."""
    wanted = set(wanted)
    for feed_name, event in simulate(SimulationConfig(seed=seed, scale=scale), begin, begin + span):
        if (feed_name, event.agency) in wanted:
            wanted.discard((feed_name, event.agency))
            yield Outgoing(
                feed_name, event.agency, event_time_ms(event), event.model_dump_json().encode()
            )
            if not wanted:
                return


def _one_event_outgoing(scale: float) -> Iterator[Outgoing]:
    start = _overload_begin()
    for feed_name, event in simulate(
        SimulationConfig(seed=11, scale=scale), start, start + timedelta(hours=6)
    ):
        if event.agency != PROBE_AGENCY:
            yield Outgoing(
                feed_name, event.agency, event_time_ms(event), event.model_dump_json().encode()
            )


class ProbeCounter:
    """Counts the probe's calls in the database over one connection (polled every few ms).

    Probes carry wall-clock times, so only the minutes from a minute before this counter was made
    are read: the primary key starts with the minute, and the poll is an index range instead of
    a scan of every NDXP row the namespace holds (a national day: about a million, a hundred
    times a second, competing with the worker it measures).
    """

    def __init__(self, settings: Settings) -> None:
        self.connection = psycopg.connect(settings.db.conninfo(), autocommit=True)
        self.since = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        self.statement = sql.SQL(
            "SELECT coalesce(sum(calls), 0) FROM {t} WHERE bucket >= %s AND agency = %s"
        ).format(t=sql.Identifier(settings.namespace, "ndxp_minute"))

    def __call__(self) -> int:
        row = self.connection.execute(self.statement, (self.since, PROBE_AGENCY)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.connection.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
