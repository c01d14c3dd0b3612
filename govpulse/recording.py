"""The recording format shared by simulation, recording and replay.

A recording is gzip-compressed NDJSON: one JSON object per line with
`topic` (the feed name, without namespace, so a recording replays into any namespace),
`key` (the Kafka key, the emitting agency), `timestamp` (event time, ms since the epoch)
and `value` (the event as a JSON object).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from govpulse.events import Event
from govpulse.topics import FEEDS


class RecordingFormatError(ValueError):
    """A line of a recording that is not in the format; the message names file and line."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    topic: str
    key: str
    timestamp: int
    value: dict[str, Any]


def event_time_ms(event: Event) -> int:
    return int(event.occurred_at.timestamp() * 1000)


class RecordingWriter:
    """Appends events to a recording; use as a context manager so the gzip trailer is written."""

    def __init__(self, path: Path, compresslevel: int = 6) -> None:
        self.path = path
        self.count = 0
        # Held open across writes and closed by close()/__exit__, so no `with` block here.
        self._raw = gzip.GzipFile(path, "wb", compresslevel=compresslevel)

    def write(self, feed_name: str, event: Event) -> None:
        # Splicing the model's own JSON avoids a dict round trip per event.
        head = orjson.dumps(
            {"topic": feed_name, "key": event.agency, "timestamp": event_time_ms(event)}
        )
        self._raw.write(head[:-1] + b',"value":' + event.model_dump_json().encode() + b"}\n")
        self.count += 1

    def write_raw(self, feed_name: str, key: str, timestamp_ms: int, value_json: bytes) -> None:
        """A line from an event already serialised as a JSON object."""
        head = orjson.dumps({"topic": feed_name, "key": key, "timestamp": timestamp_ms})
        self._raw.write(head[:-1] + b',"value":' + value_json + b"}\n")
        self.count += 1

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_recording(path: Path) -> Iterator[RecordedEvent]:
    """Every line of a recording, in file order; a malformed line raises with its line number."""
    with gzip.open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
                record = RecordedEvent(
                    topic=obj["topic"],
                    key=obj["key"],
                    timestamp=int(obj["timestamp"]),
                    value=obj["value"],
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise RecordingFormatError(
                    f"{path}:{number}: not a recording line ({exc})"
                ) from exc
            if record.topic not in FEEDS:
                raise RecordingFormatError(
                    f"{path}:{number}: unknown topic {record.topic!r}; "
                    f"valid: {', '.join(sorted(FEEDS))}"
                )
            yield record
