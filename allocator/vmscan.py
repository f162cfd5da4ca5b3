"""Reclaim after 2.6.18 mm/vmscan.c: shrinkers, direct reclaim, drop_caches.

There is no page cache and no swap here, so reclaim is shrink_slab: every
registered shrinker is asked to free what it can. A shrinker declares the GFP
bits it needs (a dcache shrinker does filesystem work, so __GFP_FS; buffer heads
need __GFP_IO) and is skipped for a mask without them, as the kernel's
prune_dcache and friends return early. The slab allocator registers its own
shrinker (free slabs back to the page allocator) and the page allocator a drain
callback (its per-CPU lists): vmscan holds neither, only what they registered.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .gfp import GFP_KERNEL
from .vmstat import VmStat, count_vm_event


@dataclass(eq=False)
class Shrinker:
    """struct shrinker. `shrink(gfp_mask, drop)` frees what it can and returns
    the pages freed; `drop` is drop_caches (free everything, not a share)."""
    name: str
    shrink: Callable[[int, bool], int]
    gfp_needed: int = 0


class Vmscan:
    def __init__(self, vmstat: VmStat):
        self.vmstat = vmstat
        self.shrinkers: list[Shrinker] = []       # shrinker_list, registration order
        self.drains: list[Callable[[], None]] = []  # per-CPU lists emptied after reclaim


def register_shrinker(v: Vmscan, shrinker: Shrinker) -> None:
    v.shrinkers.append(shrinker)  # list_add_tail


def unregister_shrinker(v: Vmscan, shrinker: Shrinker) -> None:
    if shrinker in v.shrinkers:
        v.shrinkers.remove(shrinker)


def register_drain(v: Vmscan, drain: Callable[[], None]) -> None:
    """A callback that empties per-CPU free lists after reclaim."""
    v.drains.append(drain)


def shrink_slab(v: Vmscan, gfp_mask: int) -> int:
    """Ask every shrinker this mask satisfies; returns the slab pages freed
    (counted as slabs_scanned)."""
    freed = 0
    for shrinker in list(v.shrinkers):
        if shrinker.gfp_needed & ~gfp_mask:
            continue
        freed += shrinker.shrink(gfp_mask, False)
    count_vm_event(v.vmstat, "slabs_scanned", freed)
    return freed


def try_to_free_pages(v: Vmscan, gfp_mask: int) -> int:
    """Direct reclaim, simulated: shrink_slab, then the registered drains (what
    2.6.27+ __alloc_pages_direct_reclaim adds). May not sleep here. Returns the
    slab pages the shrinkers freed; the caller counts what reached its free lists."""
    freed = shrink_slab(v, gfp_mask)
    for drain in v.drains:
        drain()
    return freed


def drop_slab(v: Vmscan) -> None:
    """Every shrinker frees all it can, then the per-CPU lists are emptied."""
    for shrinker in list(v.shrinkers):
        shrinker.shrink(GFP_KERNEL, True)
    for drain in v.drains:
        drain()


def drop_caches(v: Vmscan, mode: int) -> None:
    """proc/sys/vm/drop_caches: 1 (page cache: there is none), 2 (slab), 3 (both)."""
    if mode & 2:
        drop_slab(v)
    count_vm_event(v.vmstat, "drop_slab")
