"""How a big run asks the C heap for memory, and hands back what it freed.

Two things the C allocator (glibc) does by default cost a big run memory it does not use:

- Blocks of 128 KiB and more are mapped on their own, but each time such a block is
  freed the threshold rises to its size (up to 32 MiB). After drawing a big population
  the event log's growing arrays then come from the heap, where each growth that cannot
  happen in place leaves a hole. ``map_big_blocks`` fixes the threshold.
- Memory freed inside the heap, and Arrow's pool, are kept for later use: ``give_back``
  returns them to the system.
"""

from __future__ import annotations

import ctypes
import sys

#: Households from which a world gives memory back (it costs a few milliseconds).
GIVE_BACK_FROM = 50_000


#: glibc's mallopt parameter for the size from which blocks are mapped on their own.
_M_MMAP_THRESHOLD = -3
#: glibc's default threshold, kept fixed.
MAP_FROM = 128 * 1024

_libc: ctypes.CDLL | None | bool = None


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (Linux), else None."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL("libc.so.6")
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc or None


def map_big_blocks() -> None:
    """From now on, blocks of ``MAP_FROM`` bytes and more are mapped on their own (and a
    growing array grows in place), whatever was freed before."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MAP_FROM)


def give_back() -> None:
    """Hand the free memory of the C heap and of Arrow's pool (when pyarrow is loaded)
    back to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
