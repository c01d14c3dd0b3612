"""The records a worker produces about its input: dead letters and late batches, within limits.

Every record fits the broker's limit (`max_output_record_bytes`): a dead letter's payload above
`max_payload_bytes` is cut, keeping its size and sha256 so the original can be found in the
source topic (its topic, partition and offset are in `source`); late events are split across as
many JSON-array records as their size needs. Pure functions; the processor sends what they give.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import orjson

from govpulse.codec import Rejected


def dead_letter(
    rejected: Rejected, topic: str, partition: int, offset: int, max_payload_bytes: int
) -> bytes:
    """`{"reason", "detail", "events", "source": {...}, "payload" | "payload_base64" | cut}`."""
    body: dict[str, Any] = {
        "reason": rejected.reason.value,
        "detail": rejected.detail,
        "events": rejected.events,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "index": rejected.index,
        },
    }
    payload = rejected.payload
    if len(payload) > max_payload_bytes:
        body["payload_bytes"] = len(payload)
        body["payload_sha256"] = hashlib.sha256(payload).hexdigest()
        # A cut may split a UTF-8 sequence: replacement characters only at the cut.
        body["payload_truncated"] = payload[:max_payload_bytes].decode("utf-8", errors="replace")
        return orjson.dumps(body)
    try:
        body["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        body["payload_base64"] = base64.b64encode(payload).decode("ascii")
    return orjson.dumps(body)


def late_batches(raws: list[bytes], max_record_bytes: int) -> Iterator[bytes]:
    """JSON arrays of the late events' original bytes, each at most `max_record_bytes`.

    An event is never split; validated events are far below the limit (a few kB at most).
    """
    batch: list[bytes] = []
    size = 2  # the brackets
    for raw in raws:
        extra = len(raw) + (1 if batch else 0)
        if batch and size + extra > max_record_bytes:
            yield b"[" + b",".join(batch) + b"]"
            batch, size, extra = [], 2, len(raw)
        batch.append(raw)
        size += extra
    if batch:
        yield b"[" + b",".join(batch) + b"]"
