"""Process-wide tuning of the sealer's interpreter and allocator, each setting from a measurement.

The sealer keeps tens of thousands of small objects alive per block (rows, keys, hashes) for
the second or so a block takes to seal, at tens of thousands of events a second. CPython's and
glibc's defaults are tuned for the opposite: short-lived scripts with small heaps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

#: glibc's mallopt parameter M_MMAP_THRESHOLD, and the value the sealer fixes it at.
_M_MMAP_THRESHOLD, MMAP_THRESHOLD = -3, 128 * 1024

#: Allocations between young collections, and young (then middle) collections between older ones.
GC_THRESHOLDS = (100_000, 20, 10)


def return_large_buffers_to_the_os() -> None:
    """Keep record values (up to 4 MiB, typically 350 KB for 1000 events) out of the malloc heap.

    glibc raises its mmap threshold each time such a buffer is freed, after which they are carved
    from the heap, which fragments and never shrinks: a 150,000-event backlog then peaked at
    340 MiB RSS instead of 263 MiB (``benchmarks/bench_seal.py``). A fixed threshold keeps them
    mmapped and returned when freed. Elsewhere than glibc this does nothing.
    """
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def collect_garbage_less_often() -> None:
    """Stop the cycle collector from spending a third of the sealer's CPU re-scanning live blocks.

    With CPython's default thresholds (700, 10, 10) a block's rows outlive dozens of young
    collections, get promoted, and the oldest generation, whose every collection walks all
    tracked objects, ran 36 times while one sealer sealed 300,000 events: 3.0 of its 10 CPU
    seconds went to collecting (gc callbacks in ``benchmarks/bench_seal.py``'s sealer), and almost
    nothing was garbage, since rows are freed by reference counting when the block is written.
    With these thresholds and the freeze below, the same run spent 0.5 s collecting and the
    sealer's CPU per event fell from 28 to 20 µs (one sealer: 32,000 -> 39,600 events/s); peak
    RSS went from 211-240 to 224-248 MiB. Cycles (Faust's and aiokafka's futures, exceptions)
    are still collected, a few times a second rather than hundreds.

    ``gc.freeze`` moves everything alive now (modules, the app, settings) out of the collector's
    view, so the rare full collections walk the heap the sealer built, not the interpreter's.
    Call it once the app is built, just before it runs.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
