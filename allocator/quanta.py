"""The device model's per-quantum loops (scullcfs/drivers/model.py), compiled
with the allocator: the walk over one item's qset slots that a device write or
read does for every quantum.

They hold no state and call nothing of the allocator themselves: a write asks
`alloc` (the device's own _alloc_quantum, an interpreted method) for a hole's
quantum, so the frames that traces, slab debugging's last-user records and the
allocation-failure stack dumps read (trace.py, page_alloc.dump_stack) are the
driver's, exactly as when the loop ran interpreted: a compiled function has no
frame, and the caller of `alloc` is the device's write.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Buffer = bytes | bytearray | memoryview


def store_quanta(view: memoryview, src: memoryview, done: int, count: int, slots: list[int | None], s_pos: int,
          qset: int, q_pos: int, quantum: int, dptr: Any, gfp: int,
          alloc: Callable[[Any, int, int, int, int], int | None]) -> tuple[int, int]:
    """Copy src[done:count] into the quanta of one item (`slots`, physically
    contiguous quanta in `view`), from slot s_pos at offset q_pos in it. A hole
    gets its quantum from alloc(dptr, slot, gfp, offset, n), which zeroes the
    quantum outside the n bytes at offset about to be copied in. Returns (done,
    s_pos): s_pos < qset with done < count when an allocation failed."""
    while s_pos < qset and done < count:
        n = quantum - q_pos
        if n > count - done:
            n = count - done
        q = slots[s_pos]
        if q is None:
            q = alloc(dptr, s_pos, gfp, q_pos, n)
            if q is None:
                break
        start = q + q_pos
        view[start:start + n] = src[done:done + n]
        done += n
        q_pos = 0
        s_pos += 1
    return done, s_pos


def gather_quanta(view: memoryview, zeros: Callable[[int], memoryview], parts: list[Buffer], done: int, count: int,
           slots: list[int | None] | None, s_pos: int, qset: int, q_pos: int, quantum: int) -> int:
    """Append to `parts` the bytes of one item's quanta from slot s_pos at
    offset q_pos, up to `count` in all (views of `view`; holes, and every slot
    of an item without a qset array, as zeros(n)). Returns done."""
    while s_pos < qset and done < count:
        n = quantum - q_pos
        if n > count - done:
            n = count - done
        q = slots[s_pos] if slots is not None else None
        if q is None:
            parts.append(zeros(n))
        else:
            start = q + q_pos
            parts.append(view[start:start + n])
        done += n
        q_pos = 0
        s_pos += 1
    return done
