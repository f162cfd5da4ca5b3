"""Reclaim after 2.6.18 mm/vmscan.c: shrinkers, direct reclaim, kswapd, drop_caches.

There is no page cache and no swap here: shrink_zone finds no LRU pages, so
reclaim is shrink_slab, which asks the registered shrinkers only (2.6.18
shrinker_list): the background caches' dentry/inode shrinkers and whatever else
registered. SLAB registers none: its free slabs and array contents go back
through cache_reap, gradually. try_to_free_pages does not drain the per-CPU
page lists (that is 2.6.27's __alloc_pages_direct_reclaim).

A shrinker is 2.6.18's: `shrink(nr_to_scan, gfp_mask)` frees up to nr_to_scan
objects and returns how many are left (nr_to_scan 0: just count), or -1 when it
cannot work under this mask (shrink_dcache_memory without __GFP_FS).
Progress is the slab pages freed meanwhile (reclaim_state->reclaimed_slab,
which kmem_freepages counts): read here off VmStat's slab page count.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .gfp import GFP_KERNEL
from .vmstat import VmStat, count_vm_event, nr_slab_pages


class ReclaimZone(Protocol):
    """What balance_pgdat reads and marks of a zone (page_alloc.Zone)."""
    idx: int
    pages_high: int
    all_unreclaimable: bool


class ReclaimNode(Protocol):
    @property
    def zones(self) -> Sequence[ReclaimZone]: ...

SHRINK_BATCH = 128        # mm/vmscan.c
DEFAULT_SEEKS = 2         # include/linux/mm.h
DEF_PRIORITY = 12         # include/linux/mmzone.h
SWAP_CLUSTER_MAX = 32     # include/linux/swap.h


@dataclass(eq=False)
class Shrinker:
    """struct shrinker (2.6.18): the shrink function, its seeks, and `nr`, the
    scan count carried over between calls."""
    name: str
    shrink: Callable[[int, int], int]
    seeks: int = DEFAULT_SEEKS
    nr: int = 0


class Vmscan:
    def __init__(self, vmstat: VmStat):
        self.vmstat = vmstat
        self.shrinkers: list[Shrinker] = []       # shrinker_list, registration order
        self.kswapd_running = False               # current_is_kswapd()


def register_shrinker(v: Vmscan, shrinker: Shrinker) -> None:
    """set_shrinker: list_add_tail to shrinker_list."""
    v.shrinkers.append(shrinker)


def unregister_shrinker(v: Vmscan, shrinker: Shrinker) -> None:
    if shrinker in v.shrinkers:
        v.shrinkers.remove(shrinker)


def shrink_slab(v: Vmscan, gfp_mask: int, scanned: int = 0, lru_pages: int = 0) -> int:
    """mm/vmscan.c shrink_slab (2.6.18). `scanned` is the LRU pages the caller
    scanned (0 here: no LRU, so SWAP_CLUSTER_MAX), `lru_pages` the LRU pages
    of the zones (0 here). Each shrinker's share is 4*scanned/seeks *
    max_pass / (lru_pages + 1), at most twice what it holds, scanned in
    batches of SHRINK_BATCH (each counted in slabs_scanned); the rest waits
    in shrinker.nr. Returns the objects freed."""
    if scanned == 0:
        scanned = SWAP_CLUSTER_MAX
    ret = 0
    for shrinker in list(v.shrinkers):
        max_pass = shrinker.shrink(0, gfp_mask)
        delta = (4 * scanned) // shrinker.seeks
        delta = delta * max_pass // (lru_pages + 1)
        shrinker.nr += delta
        if shrinker.nr < 0:
            shrinker.nr = max_pass
        shrinker.nr = min(shrinker.nr, max_pass * 2)
        total_scan = shrinker.nr
        shrinker.nr = 0
        while total_scan >= SHRINK_BATCH:
            this_scan = SHRINK_BATCH
            nr_before = shrinker.shrink(0, gfp_mask)
            shrink_ret = shrinker.shrink(this_scan, gfp_mask)
            if shrink_ret == -1:
                break
            if shrink_ret < nr_before:
                ret += nr_before - shrink_ret
            count_vm_event(v.vmstat, "slabs_scanned", this_scan)
            total_scan -= this_scan
        shrinker.nr += total_scan
    return ret


def try_to_free_pages(v: Vmscan, gfp_mask: int) -> int:
    """mm/vmscan.c try_to_free_pages (2.6.18): count allocstall, then for each
    priority DEF_PRIORITY..0 shrink the zones (no LRU pages here) and
    shrink_slab; progress (1) once SWAP_CLUSTER_MAX pages were reclaimed, the
    slab pages freed meanwhile (reclaimed_slab) counting. Returns 1 or 0."""
    count_vm_event(v.vmstat, "allocstall")
    nr_reclaimed = 0
    for _priority in range(DEF_PRIORITY, -1, -1):
        before = nr_slab_pages(v.vmstat)
        shrink_slab(v, gfp_mask, 0, 0)
        nr_reclaimed += max(0, before - nr_slab_pages(v.vmstat))   # reclaimed_slab
        if nr_reclaimed >= SWAP_CLUSTER_MAX:
            return 1
    return 0


def drop_slab(v: Vmscan) -> None:
    """fs/drop_caches.c drop_slab (2.6.18): shrink_slab(1000, GFP_KERNEL, 1000)
    until it frees no more than 10 objects. Only the shrinkers run."""
    while shrink_slab(v, GFP_KERNEL, 1000, 1000) > 10:
        pass


def drop_caches(v: Vmscan, mode: int) -> None:
    """proc/sys/vm/drop_caches: 1 (page cache: there is none), 2 (slab), 3 (both)."""
    if mode & 2:
        drop_slab(v)
    count_vm_event(v.vmstat, "drop_slab")


# -- kswapd -----------------------------------------------------------------


def balance_pgdat(v: Vmscan, pgdat: ReclaimNode, order: int,
                  watermark_ok: Callable[..., bool]) -> tuple[int, bool]:
    """mm/vmscan.c balance_pgdat (2.6.18), one pass of its loop_again: count
    pageoutrun; for each priority DEF_PRIORITY..0 find the highest zone below
    pages_high (highmem -> dma), then shrink every zone up to it (dma ->
    highmem): shrink_zone (no LRU pages here) and shrink_slab(GFP_KERNEL) per
    zone. A zone whose shrink_slab freed nothing, with no LRU pages scanned
    (pages_scanned >= (nr_active + nr_inactive) * 4 is 0 >= 0), is marked
    all_unreclaimable and skipped below DEF_PRIORITY, until a free clears it.
    The pass stops when every zone is above high or SWAP_CLUSTER_MAX pages came
    back. Returns (pages reclaimed, balanced); 2.6.18 goes to loop_again at
    once when not balanced, the caller here runs it again later."""
    count_vm_event(v.vmstat, "pageoutrun")
    zones = pgdat.zones          # populated zones, lowest first
    nr_reclaimed = 0
    all_zones_ok = True
    v.kswapd_running = True
    try:
        for priority in range(DEF_PRIORITY, -1, -1):
            all_zones_ok = True
            end_zone = -1
            for i in range(len(zones) - 1, -1, -1):
                z = zones[i]
                if z.all_unreclaimable and priority != DEF_PRIORITY:
                    continue
                if not watermark_ok(z, order, z.pages_high, 0, 0):
                    end_zone = i
                    break
            if end_zone < 0:
                break
            for i in range(end_zone + 1):
                z = zones[i]
                if z.all_unreclaimable and priority != DEF_PRIORITY:
                    continue
                if not watermark_ok(z, order, z.pages_high, zones[end_zone].idx, 0):
                    all_zones_ok = False
                before = nr_slab_pages(v.vmstat)
                nr_slab = shrink_slab(v, GFP_KERNEL, 0, 0)
                nr_reclaimed += max(0, before - nr_slab_pages(v.vmstat))
                if nr_slab == 0:
                    z.all_unreclaimable = True
            if all_zones_ok:
                break
            if nr_reclaimed >= SWAP_CLUSTER_MAX:
                break
    finally:
        v.kswapd_running = False
    return nr_reclaimed, all_zones_ok
