"""Giving the C heap's free memory back to the system while the worker runs.

Catching up a busy stream churns through many short-lived buffers (decoded batches, numpy
arrays of event ids, COPY payloads). glibc keeps the freed pages of its main heap mapped unless
the free space sits at its very top, so after three minutes of overload a worker held about
13 MB of free heap on top of what it uses (measured with `malloc_trim` called from gdb: 160.6 MB
to 147.1 MB). `malloc_trim(0)` releases them; it walks the heap (3 to 14 ms for a fragmented
180 MB heap on the reference machine), so it runs after a flush: at most once a minute while
records keep coming, and once the worker has nothing left to write.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

Trim = Callable[[int], int]

# A trim costs a few ms; an idle worker gives its free heap back within seconds.
HEAP_TRIM_BUSY_EVERY_S = 60.0
HEAP_TRIM_IDLE_AFTER_S = 5.0


def glibc_malloc_trim() -> Trim | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    # The process's own symbols, libc's among them: no library search (find_library would run
    # ldconfig in a subprocess at every worker start).
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


class HeapTrimmer:
    """Trims after a flush once work was done since the last trim: at most every `busy_every_s`
    while records keep coming, and `idle_after_s` after the last trim once a flush finds nothing
    to write (a burst, a replay or an overload has been worked off).

    The idle trim runs `settle` first: what the worker can let go of only once it is idle (ids
    the window has passed while no record came to evict them, the id dicts, pending cycles), so
    the trim returns that memory as well. `settle` runs where there is no `malloc_trim` too.
    """

    def __init__(
        self,
        busy_every_s: float,
        idle_after_s: float,
        trim: Trim | None,
        now: float,
        settle: Callable[[], None] | None = None,
    ) -> None:
        if not 0 < idle_after_s <= busy_every_s:
            raise ValueError(
                f"need 0 < idle_after_s ({idle_after_s}) <= busy_every_s ({busy_every_s})"
            )
        self.busy_every_s = busy_every_s
        self.idle_after_s = idle_after_s
        self.trim = trim
        self.settle = settle
        self.trims = 0
        self.settles = 0
        self._last = now
        self._worked = False

    def after_flush(self, now: float, wrote: bool) -> bool:
        """Note a flush (`wrote`: it had records to write; `now`: monotonic seconds); True when
        it trimmed."""
        self._worked |= wrote
        wait = self.busy_every_s if wrote else self.idle_after_s
        idle = not wrote and self.settle is not None
        if not (self.trim or idle) or not self._worked or now - self._last < wait:
            return False
        self._last = now
        self._worked = False
        if idle and self.settle is not None:
            self.settle()
            self.settles += 1
        if self.trim is None:
            return False
        self.trim(0)
        self.trims += 1
        return True
