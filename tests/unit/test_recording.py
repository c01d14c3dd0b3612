"""Recordings round-trip events, and a damaged line is reported with its line number."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from connectors.calibration import local_day
from connectors.simulation import SimulationConfig, simulate
from govpulse.recording import RecordingFormatError, RecordingWriter, event_time_ms, read_recording
from govpulse.topics import feed


def test_recording_round_trip_keeps_topic_key_time_and_event(tmp_path: Path) -> None:
    path = tmp_path / "day.ndjson.gz"
    config = SimulationConfig(seed=5, scale=0.002)
    events = list(simulate(config, local_day(2024, 10, 1), local_day(2024, 10, 1).replace(hour=12)))
    with RecordingWriter(path) as writer:
        for feed_name, event in events:
            writer.write(feed_name, event)
    lines = list(read_recording(path))
    assert len(lines) == len(events) > 100
    for (feed_name, event), line in zip(events, lines, strict=True):
        assert line.topic == feed_name
        assert line.key == event.agency
        assert line.timestamp == event_time_ms(event)
        assert feed(line.topic).model.model_validate(line.value) == event


def test_a_damaged_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson.gz"
    with gzip.open(path, "wb") as out:
        out.write(b'{"topic":"ndxp.transactions","key":"01","timestamp":1,"value":{}}\n')
        out.write(b'{"topic":"nope","key":"01","timestamp":1,"value":{}}\n')
    with pytest.raises(RecordingFormatError, match=r"bad.ndjson.gz:2: unknown topic 'nope'"):
        list(read_recording(path))
