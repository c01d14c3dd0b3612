"""Handing freed heap back to the operating system once a burst is over.

Raw events are larger than pymalloc's 512-byte blocks, so they come from the C library's malloc;
after a backlog the chunks they occupied stay in the process's heap, resident, until something
trims it. glibc's `malloc_trim(0)` gives every free page of every arena back (madvise), in a few
milliseconds. The worker does it once, on the first idle flush after a burst, so a caught-up
worker shrinks back towards its working set (docs/performance.md, "Overload").
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

# Events written since the last trim before an idle flush trims again: a few minutes of live
# national traffic, a fraction of a second of a backlog.
TRIM_AFTER_EVENTS = 100_000


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None  # not glibc (musl, macOS): nothing to call, nothing lost
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Counts what flushes wrote; trims on the first flush with nothing to write after a burst."""

    def __init__(self, after_events: int = TRIM_AFTER_EVENTS) -> None:
        self._trim = _malloc_trim()
        self.after_events = after_events
        self.available = self._trim is not None
        self._since = 0
        self.trims = 0

    def flushed(self, events: int) -> bool:
        """Account one flush of `events`; True when this call trimmed the heap."""
        if events:
            self._since += events
            return False
        if self._trim is None or self._since < self.after_events:
            return False
        self._since = 0
        self._trim(0)
        self.trims += 1
        return True
