"""Zones and the buddy page allocator of Linux 6.18 x86_64, after 6.12
mm/page_alloc.c, mm/mm_init.c and mm/vmscan.c.

Pages are named by their page frame number (pfn). A zone's free_area[order]
holds one free list per migrate type; a free block is on the list of its
pageblock's migrate type (pageblock_order 9). Orders 0-3 and 9 go through
per-CPU lists (14 per zone per CPU). Watermarks come from min_free_kbytes,
watermark_scale_factor and boost; lowmem_reserve from its ratios.

The mem_map is sparse (MemMap): frames nobody touched since boot are
described by the boot layout (hole, reserved or free), so a 64 GiB machine
costs host memory in proportion to the frames used.

The part is `PageAllocator` (state only); the kernel's functions are the
module-level functions below, each taking it first, with the names and
signatures of allocator/page_alloc.py's so that a Kernel binds either.
"""
from __future__ import annotations

import importlib
import math
import sys
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Final, overload

from .._pure import interpreted, primary
from ..arch import Arch
from ..fault_inject import FaultInject
from ..page_alloc import FREE, HOLE, PAGES, PCP, RESERVED, PageOwner
from ..physmem import PhysMem
from ..printk import HZ, KERN_ALERT, KERN_WARNING, KernelLog
from ..sched import Sched, Task, attach_cpu_view, switch_to
from ..trace import KmemTrace
from ..vmscan import Vmscan, shrink_slab
from ..vmstat import VmStat, nr_slab_pages
from .gfp import (
    __GFP_DIRECT_RECLAIM,
    __GFP_DMA,
    __GFP_FS,
    __GFP_HARDWALL,
    __GFP_HIGH,
    __GFP_HIGHMEM,
    __GFP_IO,
    __GFP_KSWAPD_RECLAIM,
    __GFP_MEMALLOC,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RETRY_MAYFAIL,
    __GFP_THISNODE,
    __GFP_ZERO,
    GFP_KERNEL,
    GFP_MOVABLE_MASK,
    GFP_MOVABLE_SHIFT,
    GFP_USER,
    GFP_ZONEMASK,
    MAX_NR_ZONES,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_RECLAIMABLE,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NAMES,
    ZONE_NORMAL,
    gfp_format,
    gfp_migratetype,
    gfp_zone,
    gfp_zone_bad,
)

__all__ = ["FREE", "HOLE", "PAGES", "PCP", "RESERVED", "PageOwner"]

MAX_PAGE_ORDER: Final = 10
NR_PAGE_ORDERS: Final = MAX_PAGE_ORDER + 1
PAGEBLOCK_ORDER: Final = 9                      # pageblock_order = min(HPAGE_PMD_ORDER, MAX_PAGE_ORDER)
PAGEBLOCK_NR_PAGES: Final = 1 << PAGEBLOCK_ORDER
PAGE_ALLOC_COSTLY_ORDER: Final = 3
NR_PCP_LISTS: Final = 3 * (PAGE_ALLOC_COSTLY_ORDER + 1) + 2   # NR_LOWORDER_PCP_LISTS + 2 THP lists
PCP_BATCH_SCALE_MAX: Final = 5                  # CONFIG_PCP_BATCH_SCALE_MAX
MIN_PERCPU_PAGELIST_HIGH_FRACTION: Final = 8
MAX_RECLAIM_RETRIES: Final = 16
SWAP_CLUSTER_MAX: Final = 32
DEF_PRIORITY: Final = 12
# mm/page_alloc.c sysctl_lowmem_reserve_ratio[MAX_NR_ZONES]
LOWMEM_RESERVE_RATIO: Final = (256, 256, 32, 0, 0)
WATERMARK_SCALE_FACTOR: Final = 10
WATERMARK_BOOST_FACTOR: Final = 15000
# x86: the first 1 MiB is always reserved (arch/x86/kernel/setup.c, 5.13+)
RESERVE_LOW: Final = 1 << 20
# The kernel image and early allocations (initrd, percpu first chunk, early
# page tables, ACPI): an ESTIMATE of 16 MiB from CONFIG_PHYSICAL_START (16 MiB),
# KASLR off (docs/deviations.md).
KERNEL_START: Final = 16 << 20
KERNEL_RESERVE: Final = 16 << 20
SECTION_SIZE_BITS: Final = 27                   # x86_64 SPARSEMEM: 128 MiB sections

# enum zone_watermarks
WMARK_MIN: Final = 0
WMARK_LOW: Final = 1
WMARK_HIGH: Final = 2
WMARK_PROMO: Final = 3
NR_WMARK: Final = 4

# mm/internal.h alloc flags
ALLOC_WMARK_MIN: Final = WMARK_MIN
ALLOC_WMARK_LOW: Final = WMARK_LOW
ALLOC_WMARK_HIGH: Final = WMARK_HIGH
ALLOC_NO_WATERMARKS: Final = 0x04
ALLOC_WMARK_MASK: Final = ALLOC_NO_WATERMARKS - 1
ALLOC_OOM: Final = 0x08
ALLOC_NON_BLOCK: Final = 0x10
ALLOC_MIN_RESERVE: Final = 0x20                 # == __GFP_HIGH
ALLOC_CPUSET: Final = 0x40
ALLOC_CMA: Final = 0x80
ALLOC_NOFRAGMENT: Final = 0x100
ALLOC_HIGHATOMIC: Final = 0x200
ALLOC_TRYLOCK: Final = 0x400
ALLOC_KSWAPD: Final = 0x800                     # == __GFP_KSWAPD_RECLAIM
ALLOC_RESERVES: Final = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM
assert ALLOC_MIN_RESERVE == __GFP_HIGH and ALLOC_KSWAPD == __GFP_KSWAPD_RECLAIM

# pcp->flags
PCPF_PREV_FREE_HIGH_ORDER: Final = 0x01
PCPF_FREE_HIGH_BATCH: Final = 0x02

# fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1]
FALLBACKS: Final = ((MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
             (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
             (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE))
MIGRATETYPE_NAMES: Final = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")

# /proc/vmstat item names (6.18, this config; the reference §8), in order.
ZONE_STAT_ITEMS: Final = ("nr_free_pages", "nr_free_pages_blocks", "nr_zone_inactive_anon",
                   "nr_zone_active_anon", "nr_zone_inactive_file", "nr_zone_active_file",
                   "nr_zone_unevictable", "nr_zone_write_pending", "nr_mlock", "nr_zspages",
                   "nr_free_cma")
NUMA_STAT_ITEMS: Final = ("numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local",
                   "numa_other")
NODE_STAT_ITEMS: Final = (
    "nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable",
    "nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_isolated_anon", "nr_isolated_file",
    "workingset_nodes", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon",
    "workingset_restore_file", "workingset_nodereclaim", "nr_anon_pages", "nr_mapped",
    "nr_file_pages", "nr_dirty", "nr_writeback", "nr_shmem", "nr_shmem_hugepages",
    "nr_shmem_pmdmapped", "nr_file_hugepages", "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages", "nr_vmscan_write", "nr_vmscan_immediate_reclaim",
    "nr_dirtied", "nr_written", "nr_throttled_written", "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired", "nr_foll_pin_released", "nr_kernel_stack", "nr_page_table_pages",
    "nr_sec_page_table_pages", "nr_iommu_pages", "nr_swapcached", "pgpromote_success",
    "pgpromote_candidate", "pgpromote_candidate_nrl", "pgdemote_kswapd", "pgdemote_direct",
    "pgdemote_khugepaged", "pgdemote_proactive", "nr_hugetlb", "nr_balloon_pages",
    "nr_kernel_file_pages")
# node items kept in bytes by their callers (vmstat_item_in_bytes): stored in pages
NODE_BYTE_ITEMS = {"nr_slab_reclaimable_b": "nr_slab_reclaimable",
                   "nr_slab_unreclaimable_b": "nr_slab_unreclaimable"}
_Z5: Final = tuple(z.lower() for z in ZONE_NAMES)
VM_EVENT_ITEMS: Final = (
    "pgpgin", "pgpgout", "pswpin", "pswpout",
    *(f"pgalloc_{z}" for z in _Z5), *(f"allocstall_{z}" for z in _Z5),
    *(f"pgskip_{z}" for z in _Z5),
    "pgfree", "pgactivate", "pgdeactivate", "pglazyfree", "pgfault", "pgmajfault", "pglazyfreed",
    "pgrefill", "pgreuse", "pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged",
    "pgsteal_proactive", "pgscan_kswapd", "pgscan_direct", "pgscan_khugepaged",
    "pgscan_proactive", "pgscan_direct_throttle", "pgscan_anon", "pgscan_file", "pgsteal_anon",
    "pgsteal_file", "zone_reclaim_success", "zone_reclaim_failed", "pginodesteal",
    "slabs_scanned", "kswapd_inodesteal", "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly", "pageoutrun", "pgrotated", "drop_pagecache", "drop_slab",
    "oom_kill", "numa_pte_updates", "numa_huge_pte_updates", "numa_hint_faults",
    "numa_hint_faults_local", "numa_pages_migrated", "pgmigrate_success", "pgmigrate_fail",
    "thp_migration_success", "thp_migration_fail", "thp_migration_split",
    "compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "compact_stall",
    "compact_fail", "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned", "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail",
    "unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
    "unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
    "unevictable_pgs_stranded", "thp_fault_alloc", "thp_fault_fallback",
    "thp_fault_fallback_charge", "thp_collapse_alloc", "thp_collapse_alloc_failed",
    "thp_file_alloc", "thp_file_fallback", "thp_file_fallback_charge", "thp_file_mapped",
    "thp_split_page", "thp_split_page_failed", "thp_deferred_split_page",
    "thp_underused_split_page", "thp_split_pmd", "thp_scan_exceed_none_pte",
    "thp_scan_exceed_swap_pte", "thp_scan_exceed_share_pte", "thp_split_pud",
    "thp_zero_page_alloc", "thp_zero_page_alloc_failed", "thp_swpout", "thp_swpout_fallback",
    "balloon_inflate", "balloon_deflate", "balloon_migrate", "swap_ra", "swap_ra_hit",
    "swpin_zero", "swpout_zero", "ksm_swpin_copy", "cow_ksm", "zswpin", "zswpout", "zswpwb",
    "direct_map_level2_splits", "direct_map_level3_splits", "direct_map_level2_collapses",
    "direct_map_level3_collapses")
assert len(VM_EVENT_ITEMS) == 119 and len(NODE_STAT_ITEMS) == 51


# -- the sparse mem_map ---------------------------------------------------------

CHUNK_SHIFT: Final = PAGEBLOCK_ORDER
CHUNK: Final = 1 << CHUNK_SHIFT


class MemMap:
    """The owner of every frame (None: free in the buddy lists), stored
    sparsely. Frames untouched since boot read as the boot layout says:
    `layout` is a sorted list of (start pfn, owner) runs covering [0, size).
    The first write to a frame materializes its pageblock-sized chunk.

    Indexing and slicing behave as a list's (`mem_map[pfn]`,
    `mem_map[lo:hi] = [owner] * n`); `runs(lo, hi)` walks (owner, count)
    runs without materializing anything."""
    __slots__ = ("_layout_owner", "_layout_start", "chunks", "size")

    def __init__(self, size: int, layout: list[tuple[int, PageOwner | None]]):
        self.size = size
        self._layout_start = [s for s, _ in layout]
        self._layout_owner = [o for _, o in layout]
        self.chunks: dict[int, list[PageOwner | None]] = {}

    def __len__(self) -> int:
        return self.size

    def boot_owner(self, pfn: int) -> PageOwner | None:
        return self._layout_owner[bisect_right(self._layout_start, pfn) - 1]

    def _chunk(self, c: int) -> list[PageOwner | None]:
        chunk = self.chunks.get(c)
        if chunk is None:
            lo = c << CHUNK_SHIFT
            chunk = [owner for owner, n in self._boot_runs(lo, min(lo + CHUNK, self.size))
                     for _ in range(n)]
            chunk += [HOLE] * (CHUNK - len(chunk))
            self.chunks[c] = chunk
        return chunk

    def _boot_runs(self, lo: int, hi: int) -> Iterator[tuple[PageOwner | None, int]]:
        starts, owners = self._layout_start, self._layout_owner
        i = bisect_right(starts, lo) - 1
        pfn = lo
        while pfn < hi:
            end = starts[i + 1] if i + 1 < len(starts) else self.size
            end = min(end, hi)
            yield owners[i], end - pfn
            pfn = end
            i += 1

    @overload
    def __getitem__(self, key: int) -> PageOwner | None: ...
    @overload
    def __getitem__(self, key: slice) -> list[PageOwner | None]: ...

    def __getitem__(self, key: int | slice) -> PageOwner | None | list[PageOwner | None]:
        if isinstance(key, slice):
            lo, hi, _ = key.indices(self.size)
            out: list[PageOwner | None] = []
            for owner, n in self.runs(lo, hi):
                out += [owner] * n
            return out
        if not 0 <= key < self.size:
            raise IndexError(key)
        chunk = self.chunks.get(key >> CHUNK_SHIFT)
        if chunk is not None:
            return chunk[key & (CHUNK - 1)]
        return self.boot_owner(key)

    @overload
    def __setitem__(self, key: int, value: PageOwner | None) -> None: ...
    @overload
    def __setitem__(self, key: slice, value: list[PageOwner | None]) -> None: ...

    def __setitem__(self, key: int | slice, value: PageOwner | None | list[PageOwner | None]) -> None:
        if isinstance(key, slice):
            lo, hi, _ = key.indices(self.size)
            assert isinstance(value, list) and len(value) == hi - lo
            i = 0
            pfn = lo
            while pfn < hi:
                c = pfn >> CHUNK_SHIFT
                off = pfn & (CHUNK - 1)
                n = min(CHUNK - off, hi - pfn)
                self._chunk(c)[off:off + n] = value[i:i + n]
                i += n
                pfn += n
            return
        assert not isinstance(value, list)
        self._chunk(key >> CHUNK_SHIFT)[key & (CHUNK - 1)] = value

    def set(self, pfn: int, owner: PageOwner | None) -> None:
        """mem_map[pfn] = owner (the hot paths' one-frame write)."""
        chunk = self.chunks.get(pfn >> CHUNK_SHIFT)
        if chunk is None:
            chunk = self._chunk(pfn >> CHUNK_SHIFT)
        chunk[pfn & (CHUNK - 1)] = owner

    def fill(self, lo: int, hi: int, owner: PageOwner | None) -> None:
        """mem_map[lo:hi] = [owner] * (hi - lo), without building the list."""
        pfn = lo
        while pfn < hi:
            off = pfn & (CHUNK - 1)
            n = min(CHUNK - off, hi - pfn)
            self._chunk(pfn >> CHUNK_SHIFT)[off:off + n] = [owner] * n
            pfn += n

    def runs(self, lo: int, hi: int) -> Iterator[tuple[PageOwner | None, int]]:
        """(owner, count) for consecutive frames of [lo, hi), adjacent equal
        owners joined."""
        cur: PageOwner | None = None
        count = 0
        pfn = lo
        while pfn < hi:
            c = pfn >> CHUNK_SHIFT
            end = min((c + 1) << CHUNK_SHIFT, hi)
            chunk = self.chunks.get(c)
            if chunk is None:
                parts: Iterator[tuple[PageOwner | None, int]] = self._boot_runs(pfn, end)
            else:
                parts = _list_runs(chunk, pfn & (CHUNK - 1), end - (c << CHUNK_SHIFT))
            for owner, n in parts:
                if count and owner is cur:
                    count += n
                else:
                    if count:
                        yield cur, count
                    cur, count = owner, n
            pfn = end
        if count:
            yield cur, count

    def __iter__(self) -> Iterator[PageOwner | None]:
        for owner, n in self.runs(0, self.size):
            for _ in range(n):
                yield owner

    def touched(self) -> int:
        """Frames whose chunk was materialized (what the map costs in host memory)."""
        return len(self.chunks) << CHUNK_SHIFT


def _list_runs(chunk: list[PageOwner | None], lo: int, hi: int) -> Iterator[tuple[PageOwner | None, int]]:
    i = lo
    while i < hi:
        owner = chunk[i]
        j = i + 1
        while j < hi and chunk[j] is owner:
            j += 1
        yield owner, j - i
        i = j


# -- free lists ---------------------------------------------------------------


class FreeList:
    """One struct list_head of free blocks. list_add puts a block at the
    head, list_add_tail at the tail; list_first_entry is the head. Kept as
    two insertion-ordered dicts (head part newest last, tail part oldest
    first) so that every operation is O(1)."""
    __slots__ = ("head", "tail")

    def __init__(self) -> None:
        self.head: dict[int, None] = {}
        self.tail: dict[int, None] = {}

    def __len__(self) -> int:
        return len(self.head) + len(self.tail)

    def __bool__(self) -> bool:
        return bool(self.head) or bool(self.tail)

    def __contains__(self, pfn: int) -> bool:
        return pfn in self.head or pfn in self.tail

    def __iter__(self) -> Iterator[int]:
        """From the head of the list to its tail."""
        yield from reversed(self.head)
        yield from self.tail

    def add(self, pfn: int) -> None:
        self.head[pfn] = None

    def add_tail(self, pfn: int) -> None:
        if not self.head and not self.tail:
            self.head[pfn] = None     # a one-entry list: head and tail are one
        else:
            self.tail[pfn] = None

    def first(self) -> int | None:
        if self.head:
            return next(reversed(self.head))
        if self.tail:
            return next(iter(self.tail))
        return None

    def remove(self, pfn: int) -> None:
        if pfn in self.head:
            del self.head[pfn]
        else:
            del self.tail[pfn]


@dataclass(eq=False, slots=True)
class FreeArea:
    """struct free_area: one list per migrate type and the count of blocks."""
    free_list: list[FreeList] = field(default_factory=lambda: [FreeList() for _ in range(MIGRATE_TYPES)])
    nr_free: int = 0


@dataclass(eq=False, slots=True)
class PerCpuPages:
    """struct per_cpu_pages (6.12): count in pages, the auto-tuned high
    within [high_min, high_max], batch, free_count and alloc_factor, and 14
    lists (pindex = 3 * order + mt for orders 0-3, 12 + (mt == MOVABLE) for
    order 9). A list is a deque with its head on the left."""
    count: int = 0
    high: int = 0
    high_min: int = 0
    high_max: int = 0
    batch: int = 0
    flags: int = 0
    alloc_factor: int = 0
    free_count: int = 0
    lists: list[deque[int]] = field(default_factory=lambda: [deque() for _ in range(NR_PCP_LISTS)])


def order_to_pindex(migratetype: int, order: int) -> int:
    """mm/page_alloc.c order_to_pindex (CONFIG_TRANSPARENT_HUGEPAGE)."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_PCP_LISTS - 2 + (migratetype == MIGRATE_MOVABLE)
    return MIGRATE_PCPTYPES * order + migratetype


def pindex_to_order(pindex: int) -> int:
    if pindex >= NR_PCP_LISTS - 2:
        return PAGEBLOCK_ORDER
    return pindex // MIGRATE_PCPTYPES


def pcp_allowed_order(order: int) -> bool:
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == PAGEBLOCK_ORDER


@dataclass(eq=False)
class Zone:
    """struct zone. Every node has all MAX_NR_ZONES zones; an empty one has
    spanned 0 (populated_zone: present > 0, managed_zone: managed > 0)."""
    node: Node
    idx: int
    name: str
    start_pfn: int = 0
    spanned: int = 0
    present: int = 0
    managed: int = 0
    free_pages: int = 0                      # NR_FREE_PAGES
    watermark: list[int] = field(default_factory=lambda: [0] * NR_WMARK)   # _watermark[]
    watermark_boost: int = 0
    lowmem_reserve: list[int] = field(default_factory=lambda: [0] * MAX_NR_ZONES)
    nr_reserved_highatomic: int = 0
    nr_free_highatomic: int = 0
    free_area: list[FreeArea] = field(default_factory=lambda: [FreeArea() for _ in range(NR_PAGE_ORDERS)])
    buddy: dict[int, int] = field(default_factory=dict)     # free block head -> order (PageBuddy)
    pageblock_flags: bytearray = field(default_factory=bytearray)   # migratetype per pageblock
    pcp: list[PerCpuPages] = field(default_factory=list)   # [cpu]
    pageset_batch: int = 0
    pageset_high_min: int = 0
    pageset_high_max: int = 0
    boosted_watermark: bool = False          # ZONE_BOOSTED_WATERMARK
    below_high: bool = False                 # ZONE_BELOW_HIGH
    reclaim_active: bool = False             # ZONE_RECLAIM_ACTIVE
    vm_stat: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ZONE_STAT_ITEMS, 0))
    numa_stat: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NUMA_STAT_ITEMS, 0))

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.spanned

    @property
    def populated(self) -> bool:
        return self.present > 0

    @property
    def pages_min(self) -> int:
        return self.watermark[WMARK_MIN] + self.watermark_boost

    @property
    def pages_low(self) -> int:
        return self.watermark[WMARK_LOW] + self.watermark_boost

    @property
    def pages_high(self) -> int:
        return self.watermark[WMARK_HIGH] + self.watermark_boost

    @property
    def all_unreclaimable(self) -> bool:
        return self.node.kswapd_failures >= MAX_RECLAIM_RETRIES

    def nr_free(self, order: int) -> int:
        return self.free_area[order].nr_free

    def pcp_count(self) -> int:
        return sum(p.count for p in self.pcp)

    def __repr__(self) -> str:
        return f"<Zone node{self.node.id} {self.name} pfn {self.start_pfn}+{self.spanned}>"


@dataclass(eq=False)
class Node:
    """struct pglist_data."""
    id: int
    start_pfn: int
    spanned: int
    present: int = 0
    node_zones: list[Zone] = field(default_factory=list)    # all MAX_NR_ZONES
    zones: list[Zone] = field(default_factory=list)         # the populated ones, lowest first
    cpus: list[int] = field(default_factory=list)
    zonelists: list[list[Zone]] = field(default_factory=list)   # [highest_zoneidx] -> zones
    zonelists_nofallback: list[list[Zone]] = field(default_factory=list)   # __GFP_THISNODE's
    mem_map_pfn: int = 0
    totalreserve_pages: int = 0
    vm_stat: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NODE_STAT_ITEMS, 0))
    kswapd_order: int = 0
    kswapd_highest_zoneidx: int = MAX_NR_ZONES
    kswapd_failures: int = 0
    kswapd_woken: bool = False
    kswapd_slept_at: int | None = None       # jiffies when kswapd last went to sleep
    kswapd: Task | None = None


@dataclass(slots=True)
class AllocContext:
    """struct alloc_context."""
    zonelist: list[Zone]
    highest_zoneidx: int
    migratetype: int
    preferred_zone: Zone | None
    spread_dirty_pages: bool = False


_PARTS: dict[str, ModuleType | None] = {}


def _part(name: str) -> ModuleType | None:
    """allocator/linux618/<name>.py if it exists (show_mem.py's reports,
    fault_inject.py's 6.18 knobs: other parts, imported when first needed,
    as they import this one)."""
    if name not in _PARTS:
        try:
            _PARTS[name] = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError:
            _PARTS[name] = None
    return _PARTS[name]


def _default_out_of_memory(pa: PageAllocator, gfp_mask: int, order: int) -> bool:
    """Until the kernel installs oom_kill.py's out_of_memory: kill nothing,
    returning what mm/oom_kill.c out_of_memory returns then (true without
    __GFP_FS: the caller keeps looping; false otherwise)."""
    return not gfp_mask & __GFP_FS


def _default_warn_alloc(pa: PageAllocator, gfp_mask: int, order: int, msg: str) -> None:
    """warn_alloc's report once its tests passed: show_mem.py's
    warn_alloc_hook (the line, dump_stack, __show_mem); without it, the line."""
    sm = _part("show_mem")
    if sm is not None:
        sm.warn_alloc_hook(pa, gfp_mask, order, msg)
        return
    pa.log.printk(KERN_WARNING, f"{pa.current.comm}: {msg}, mode:{gfp_mask:#x}({gfp_format(gfp_mask)}),"
                                f" nodemask=(null),cpuset=/,mems_allowed={node_list(pa)}")


# Hooks into other parts, module attributes so that the kernel (or a test)
# may set them: the OOM killer __alloc_pages_may_oom calls,
# out_of_memory(pa, gfp, order) -> progress (the kernel installs
# allocator/linux618/oom_kill.py's), and warn_alloc's report,
# warn_alloc_hook(pa, gfp, order, msg) (show_mem.py's when present). They
# are read off this module (primary(__name__)), so that the pure twin, which
# runs the calls that report, sees what was set here.
out_of_memory: Callable[[PageAllocator, int, int], bool] = _default_out_of_memory
warn_alloc_hook: Callable[[PageAllocator, int, int, str], None] = _default_warn_alloc


def _twin() -> ModuleType | None:
    """This module's pure twin while it runs compiled, else None (_pure.py).
    The reports of an allocation failure (warn_alloc's and the OOM killer's
    dump_stack, a sleeping allocation's pending trace) and fault injection's
    stack read Python frames: an entry point hands a call that could reach
    them to the twin, whole (alloc_may_report)."""
    return interpreted(__name__)


def alloc_may_report(pa: PageAllocator, gfp_mask: int, order: int, node_id: int | None) -> bool:
    """Could alloc_pages(gfp_mask, order, node_id) reach a report that reads
    Python frames (the slow path, fault injection, tracing)? False only when
    its first get_page_from_freelist attempt is sure to be served by the
    preferred zone: no fault injection or trace hook, an order the per-CPU
    lists serve (<= PAGE_ALLOC_COSTLY_ORDER), and the zone passes the high
    watermark for a costly-order request (free pages, and a free block of
    that order or above in a per-CPU migrate type)."""
    if pa.slow or pa.trace.hook is not None or order > PAGE_ALLOC_COSTLY_ORDER:
        return True
    pref = pa.preferred[pa.cpu_node[pa.current.cpu] if node_id is None else node_id][gfp_mask & GFP_ZONEMASK]
    if pref is None:
        return True
    zone, highest = pref
    return not __zone_watermark_ok(zone, PAGE_ALLOC_COSTLY_ORDER, high_wmark_pages(zone), highest, 0,
                                   zone.free_pages)


def node_list(pa: PageAllocator) -> str:
    """%*pbl of the online nodes."""
    n = len(pa.nodes)
    return "0" if n == 1 else f"0-{n - 1}"


class PageAllocator:
    """The page allocator's state: frames, nodes, zones, watermarks, counters.

    `mem` must cover the physical address space: with the x86_64 e820 layout
    RAM above 3 GiB sits above the PCI hole, so a machine of `ram` bytes
    needs PhysMem(phys_end(arch, ram)). `ram` defaults to the RAM that a
    PhysMem of mem.size bytes holds (ram_of_phys)."""

    def __init__(self, arch: Arch, mem: PhysMem, log: KernelLog, sched: Sched, vmstat: VmStat,
                 faults: FaultInject, trace: KmemTrace, vmscan: Vmscan, nr_nodes: int,
                 ram: int | None = None):
        self.arch = arch
        self.mem = mem
        self.log = log
        self.sched = sched
        self.vmstat = vmstat
        self.faults = faults
        self.trace = trace
        self.vmscan = vmscan
        self.page_shift = arch.page_shift
        self.ram = ram_of_phys(arch, mem.size) if ram is None else ram
        if phys_end(arch, self.ram) > mem.size:
            raise ValueError(f"{self.ram >> 20}M of RAM needs {phys_end(arch, self.ram) >> 20}M of"
                             f" physical address space; PhysMem has {mem.size >> 20}M")
        self.nr_pages = mem.size >> arch.page_shift          # frames addressable (max_pfn)
        # 6.18's event counters, with the 2.6.18 names vmscan.py counts under
        for item in VM_EVENT_ITEMS:
            vmstat.events.setdefault(item, 0)
        self.vm_events = vmstat.events
        self.alloc_order: dict[int, int] = {}   # head pfn of an alloc_pages block -> order
        self.nodes: list[Node] = []
        self.zones: list[Zone] = []             # every zone of every node, in index order
        nr_cpus = sched.nr_cpus
        self.cpu_node = [(c * nr_nodes // nr_cpus) if nr_cpus >= nr_nodes else (c % nr_nodes)
                         for c in range(nr_cpus)]
        self.zone_starts: list[int] = []
        self.zones_by_pfn: list[Zone] = []
        self.e820: list[tuple[int, int]] = []   # usable RAM [start pfn, end pfn)
        # [node][gfp & GFP_ZONEMASK]: (preferred zone, highest_zoneidx) for the
        # order-0 fast path; None for GFP_ZONE_BAD or no zone
        self.preferred: list[list[tuple[Zone, int] | None]] = []
        self.numa = nr_nodes > 1
        self.kswapd_wake: Callable[[int], None] | None = None
        self.pending_trace: str | None = None
        self.oom_state: object = None           # oom_kill.py's OomState (made when first needed)
        self.min_free_kbytes = 0
        self.user_min_free_kbytes = -1
        self.watermark_scale_factor = WATERMARK_SCALE_FACTOR
        self.watermark_boost_factor = WATERMARK_BOOST_FACTOR
        self.percpu_pagelist_high_fraction = 0
        self.lowmem_reserve_ratio = list(LOWMEM_RESERVE_RATIO)
        self.totalram_pages = 0
        self.totalhigh_pages = 0
        self.totalreserve_pages = 0
        self.memmap_boot_pages = 0
        self.slow = False
        self.current = sched.current
        self.free_waiters: Callable[[], None] | None = None
        self.mem_map = MemMap(self.nr_pages, [(0, HOLE)])
        self.nopage_rs = RatelimitState(10 * HZ, 1)
        self.oom_killed = False                 # the last out_of_memory call killed a task
        # the OOM killer the kernel boots with (Kernel: oom_kill.out_of_memory);
        # None: the module's `out_of_memory` hook (declared here: a compiled
        # PageAllocator has no attributes it does not declare)
        self.out_of_memory_hook: Callable[[PageAllocator, int, int], bool] | None = None
        self.oom_dead: set[Task] = set()        # SIGKILLed victims past their ALLOC_OOM allocation
        self.nofail_order_warned = False        # WARN_ON_ONCE(order > 1) for __GFP_NOFAIL
        attach_cpu_view(sched, self)
        free_area_init(self, nr_nodes)
        for node in self.nodes:
            node.kswapd = Task(-1 - node.id, node.cpus[0] if node.cpus else 0, f"kswapd{node.id}")
            node.kswapd.kthread = True


# -- boot -------------------------------------------------------------------


def phys_end(arch: Arch, ram: int) -> int:
    """The end of the physical address space holding `ram` bytes of RAM:
    RAM above the PCI hole's start moves above the hole."""
    lo, hi = arch.pci_hole
    if hi > lo and ram > lo:
        return hi + (ram - lo)
    return ram


def ram_of_phys(arch: Arch, size: int) -> int:
    """The RAM a physical address space of `size` bytes holds (phys_end's inverse)."""
    lo, hi = arch.pci_hole
    if hi > lo and size > lo:
        return lo + max(0, size - hi)
    return size


def e820_ram(arch: Arch, ram: int) -> list[tuple[int, int]]:
    """The usable RAM ranges (pfns) of the e820 map after trim_bios_range
    (arch/x86/kernel/e820.c, setup.c): pfn 0 is E820-reserved, the BIOS hole
    [0x9fc00, 1 MiB) is not RAM, RAM below min(RAM, 3 GiB), the rest from 4 GiB."""
    shift = arch.page_shift
    hole_lo, hole_hi = arch.bios_hole
    pci_lo, pci_hi = arch.pci_hole
    low = min(ram, pci_lo) if pci_hi > pci_lo else ram
    ranges: list[tuple[int, int]] = []

    def add(lo: int, hi: int) -> None:
        if hi > lo:
            ranges.append((lo, hi))
    add(1, min(hole_lo, low) >> shift)
    add(hole_hi >> shift, low >> shift)
    if ram > low:
        add(pci_hi >> shift, (pci_hi + ram - low) >> shift)
    return ranges


def _ram_in(e820: list[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in e820)


def free_area_init(pa: PageAllocator, nr_nodes: int) -> None:
    """mm/mm_init.c free_area_init + memblock_free_all, then
    init_per_zone_wmark_min and khugepaged's set_recommended_min_free_kbytes:
    nodes and their MAX_NR_ZONES zones (spanned from the node's RAM ends,
    present = RAM pages), the boot reservations (managed = present -
    reserved), every pageblock MIGRATE_MOVABLE (memmap_init_range), the free
    RAM to the buddy lists, zonelists, watermarks, lowmem_reserve, pcp."""
    arch, shift = pa.arch, pa.page_shift
    e820 = pa.e820 = e820_ram(arch, pa.ram)
    total_ram = sum(b - a for a, b in e820)
    # numa=fake-style split: equal RAM per node, boundaries on pageblocks
    bounds = [e820[0][0]]
    want = total_ram // nr_nodes
    acc = 0
    for a, b in e820:
        pfn = a
        while len(bounds) < nr_nodes and acc + (b - pfn) >= want * len(bounds):
            cut = pfn + (want * len(bounds) - acc)
            cut = max(pfn, (cut + PAGEBLOCK_NR_PAGES - 1) & ~(PAGEBLOCK_NR_PAGES - 1))
            if cut >= b:
                break
            bounds.append(cut)
        acc += b - a
    while len(bounds) < nr_nodes:
        bounds.append(e820[-1][1])
    bounds.append(e820[-1][1])
    for nid in range(nr_nodes):
        lo, hi = bounds[nid], bounds[nid + 1]
        ram_lo = min((max(a, lo) for a, b in e820 if b > lo and a < hi), default=lo)
        ram_hi = max((min(b, hi) for a, b in e820 if b > lo and a < hi), default=lo)
        node = Node(nid, ram_lo, ram_hi - ram_lo, _ram_in(e820, lo, hi))
        node.cpus = [c for c in range(pa.sched.nr_cpus) if pa.cpu_node[c] == nid]
        for idx, zspan in enumerate(arch.zones):
            zone = Zone(node, idx, zspan.name)
            zlo = max(ram_lo, zspan.lo >> shift)
            zhi = min(ram_hi, zspan.hi >> shift)
            if zhi > zlo:
                zone.start_pfn, zone.spanned = zlo, zhi - zlo
                zone.present = _ram_in(e820, zlo, zhi)
            node.node_zones.append(zone)
            pa.zones.append(zone)
        node.zones = [z for z in node.node_zones if z.present]
        pa.nodes.append(node)
    layout = memblock_reserve_boot(pa)
    pa.mem_map = MemMap(pa.nr_pages, layout)
    for zone in pa.zones:
        if zone.spanned:
            base = zone.start_pfn >> PAGEBLOCK_ORDER
            nblocks = ((zone.end_pfn - 1) >> PAGEBLOCK_ORDER) - base + 1
            zone.pageblock_flags = bytearray([MIGRATE_MOVABLE]) * nblocks
        zone.pcp = [PerCpuPages() for _ in range(pa.sched.nr_cpus)]
    populated = sorted((z for z in pa.zones if z.spanned), key=lambda z: z.start_pfn)
    pa.zone_starts = [z.start_pfn for z in populated]
    pa.zones_by_pfn = populated
    memblock_free_all(pa, layout)
    build_zonelists(pa)
    pa.preferred = [[None if gfp_zone_bad(bits) or not node.zonelists[gfp_zone(bits)]
                     else (node.zonelists[gfp_zone(bits)][0], gfp_zone(bits))
                     for bits in range(GFP_ZONEMASK + 1)] for node in pa.nodes]
    pa.totalram_pages = sum(z.managed for z in pa.zones)
    init_per_zone_wmark_min(pa)
    set_recommended_min_free_kbytes(pa)


def memblock_reserve_boot(pa: PageAllocator) -> list[tuple[int, PageOwner | None]]:
    """The boot layout of every frame, as (start, owner) runs: HOLE where the
    e820 map has no RAM; RESERVED for memblock's reservations (the first
    1 MiB, the kernel image at 16 MiB, each node's memmap: 64 bytes of
    struct page per frame of each present 128 MiB section, allocated
    top-down from the node's end); FREE elsewhere. Sets managed per zone."""
    shift = pa.page_shift
    reserved: list[tuple[int, int]] = [(0, RESERVE_LOW >> shift)]
    k_lo = KERNEL_START >> shift
    k_hi = k_lo + (KERNEL_RESERVE >> shift)
    if _ram_in(pa.e820, k_lo, k_hi) == k_hi - k_lo:
        reserved.append((k_lo, k_hi))
    sec_shift = SECTION_SIZE_BITS - shift
    per_section = ((1 << sec_shift) * pa.arch.sizeof_struct_page) >> shift
    for node in pa.nodes:
        lo, hi = node.start_pfn, node.start_pfn + node.spanned
        ram = [(max(a, lo), min(b, hi)) for a, b in pa.e820 if min(b, hi) > max(a, lo)]
        sections = {sec for a, b in ram for sec in range(a >> sec_shift, ((b - 1) >> sec_shift) + 1)}
        need = len(sections) * per_section
        pa.memmap_boot_pages += need
        for a, b in reversed(_subtract(ram, reserved)):
            take = min(need, b - a)
            if take:
                reserved.append((b - take, b))
                node.mem_map_pfn = b - take
                need -= take
    merged = _merge(reserved)
    layout: list[tuple[int, PageOwner | None]] = [(0, HOLE)]

    def mark(pfn: int, owner: PageOwner | None) -> None:
        if layout[-1][0] == pfn:
            layout[-1] = (pfn, owner)
            if len(layout) > 1 and layout[-2][1] is owner:
                layout.pop()
        elif layout[-1][1] is not owner:
            layout.append((pfn, owner))
    for a, b in pa.e820:
        mark(a, FREE)
        for r_lo, r_hi in merged:
            if r_hi <= a or r_lo >= b:
                continue
            mark(max(a, r_lo), RESERVED)
            if r_hi < b:
                mark(r_hi, FREE)
        mark(b, HOLE)
    for zone in pa.zones:
        if zone.spanned:
            zone.managed = _ram_in(_subtract(pa.e820, merged), zone.start_pfn, zone.end_pfn)
    return layout


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(ranges: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of `ranges` (sorted, disjoint) outside every range of `cuts`."""
    out: list[tuple[int, int]] = []
    merged = _merge(cuts)
    for a, b in ranges:
        pfn = a
        for c, d in merged:
            if d <= pfn or c >= b:
                continue
            if c > pfn:
                out.append((pfn, c))
            pfn = max(pfn, d)
        if pfn < b:
            out.append((pfn, b))
    return out


def memblock_free_all(pa: PageAllocator, layout: list[tuple[int, PageOwner | None]]) -> None:
    """mm/memblock.c __free_pages_memory: each free range in the largest
    naturally aligned blocks (order <= MAX_PAGE_ORDER), freed to the tail
    of their free list (__free_pages_core, FPI_TO_TAIL): the lowest frames
    are used first."""
    for i, (start, owner) in enumerate(layout):
        if owner is not FREE:
            continue
        end = layout[i + 1][0] if i + 1 < len(layout) else pa.nr_pages
        pfn = start
        while pfn < end:
            zone = page_zone(pa, pfn)
            stop = min(end, zone.end_pfn)
            while pfn < stop:
                order = MAX_PAGE_ORDER
                while order and (pfn & ((1 << order) - 1) or pfn + (1 << order) > stop):
                    order -= 1
                mt = get_pfnblock_migratetype(zone, pfn)
                add_to_free_list(zone, pfn, order, mt, tail=True)
                account_freepages(zone, 1 << order, mt)
                pfn += 1 << order


def build_zonelists(pa: PageAllocator) -> None:
    """mm/page_alloc.c build_zonelists, numa_zonelist_order Node: the local
    node's populated zones high to low, then the other nodes' (nearest
    first: all at REMOTE_DISTANCE here, so in node order after the local
    one). zonelists[h] is that list cut to zones of index <= h."""
    for local in pa.nodes:
        order = [local] + [n for n in pa.nodes[local.id + 1:] + pa.nodes[:local.id]]
        full = [z for n in order for z in reversed(n.node_zones) if z.managed]
        local.zonelists = [[z for z in full if z.idx <= h] for h in range(MAX_NR_ZONES)]
        own = [z for z in reversed(local.node_zones) if z.managed]
        local.zonelists_nofallback = [[z for z in own if z.idx <= h] for h in range(MAX_NR_ZONES)]


def nr_free_zone_pages(pa: PageAllocator, offset: int) -> int:
    """mm/page_alloc.c nr_free_zone_pages: managed pages above the high
    watermark of node 0's zonelist up to `offset`."""
    total = 0
    for zone in pa.nodes[0].zonelists[offset]:
        size, high = zone.managed, high_wmark_pages(zone)
        if size > high:
            total += size - high
    return total


def nr_free_buffer_pages(pa: PageAllocator) -> int:
    return nr_free_zone_pages(pa, gfp_zone(GFP_USER))


def calculate_min_free_kbytes(pa: PageAllocator) -> None:
    """mm/page_alloc.c calculate_min_free_kbytes: int_sqrt(lowmem_kbytes * 16)
    clamped to [128, 262144], unless the user's value is larger."""
    lowmem_kbytes = nr_free_buffer_pages(pa) * (pa.arch.page_size >> 10)
    new = math.isqrt(lowmem_kbytes * 16)
    if new > pa.user_min_free_kbytes:
        pa.min_free_kbytes = max(128, min(262144, new))


def set_recommended_min_free_kbytes(pa: PageAllocator) -> None:
    """mm/khugepaged.c set_recommended_min_free_kbytes (THP enabled, madvise
    included): 2 pageblocks per populated zone <= Normal plus
    MIGRATE_PCPTYPES^2 more, at most 5% of nr_free_buffer_pages; it wins
    when larger."""
    nr_zones = sum(1 for z in pa.zones if z.present and z.idx <= gfp_zone(GFP_USER))
    recommended = PAGEBLOCK_NR_PAGES * nr_zones * 2
    recommended += PAGEBLOCK_NR_PAGES * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    recommended = min(recommended, nr_free_buffer_pages(pa) // 20)
    recommended <<= pa.page_shift - 10
    if recommended > pa.min_free_kbytes:
        pa.min_free_kbytes = recommended
    setup_per_zone_wmarks(pa)


def init_per_zone_wmark_min(pa: PageAllocator) -> None:
    """mm/page_alloc.c init_per_zone_wmark_min (postcore_initcall)."""
    calculate_min_free_kbytes(pa)
    setup_per_zone_wmarks(pa)
    setup_per_zone_lowmem_reserve(pa)


def __setup_per_zone_wmarks(pa: PageAllocator) -> None:
    """mm/page_alloc.c __setup_per_zone_wmarks."""
    pages_min = pa.min_free_kbytes >> (pa.page_shift - 10)
    lowmem_pages = sum(z.managed for z in pa.zones if z.idx != ZONE_MOVABLE)
    for zone in pa.zones:
        tmp = pages_min * zone.managed // lowmem_pages if lowmem_pages else 0
        if zone.idx == ZONE_MOVABLE:
            zone.watermark[WMARK_MIN] = max(SWAP_CLUSTER_MAX, min(128, zone.managed // 1024))
        else:
            zone.watermark[WMARK_MIN] = tmp
        tmp = max(tmp >> 2, zone.managed * pa.watermark_scale_factor // 10000)
        zone.watermark_boost = 0
        zone.watermark[WMARK_LOW] = zone.watermark[WMARK_MIN] + tmp
        zone.watermark[WMARK_HIGH] = zone.watermark[WMARK_LOW] + tmp
        zone.watermark[WMARK_PROMO] = zone.watermark[WMARK_HIGH] + tmp
    calculate_totalreserve_pages(pa)


def setup_per_zone_wmarks(pa: PageAllocator) -> None:
    """mm/page_alloc.c setup_per_zone_wmarks: the watermarks, then every
    zone's pcp batch and high limits (zone_pcp_update)."""
    __setup_per_zone_wmarks(pa)
    for zone in pa.zones:
        zone_set_pageset_high_and_batch(pa, zone, 0)


def calculate_totalreserve_pages(pa: PageAllocator) -> None:
    """mm/page_alloc.c calculate_totalreserve_pages."""
    total = 0
    for node in pa.nodes:
        node.totalreserve_pages = 0
        for zone in node.node_zones:
            reserve = max(zone.lowmem_reserve[zone.idx:], default=0) + high_wmark_pages(zone)
            reserve = min(reserve, zone.managed)
            node.totalreserve_pages += reserve
            total += reserve
    pa.totalreserve_pages = total


def setup_per_zone_lowmem_reserve(pa: PageAllocator) -> None:
    """mm/page_alloc.c setup_per_zone_lowmem_reserve: for j > i,
    lowmem_reserve[j] of zone i = managed pages of zones i+1..j / ratio[i]
    (0 when the ratio is 0 or zone i has no managed pages)."""
    for node in pa.nodes:
        for i in range(MAX_NR_ZONES - 1):
            zone = node.node_zones[i]
            ratio = pa.lowmem_reserve_ratio[i]
            clear = not ratio or not zone.managed
            managed = 0
            for j in range(i + 1, MAX_NR_ZONES):
                managed += node.node_zones[j].managed
                zone.lowmem_reserve[j] = 0 if clear else managed // ratio
    calculate_totalreserve_pages(pa)


def zone_batchsize(managed: int, page_size: int = 4096) -> int:
    """mm/page_alloc.c zone_batchsize: ~0.1% of the zone or 1 MiB, /4, then
    rounddown_pow_of_two(b + b/2) - 1."""
    batch = min(managed >> 10, (1 << 20) // page_size)
    batch //= 4
    batch = max(batch, 1)
    return (1 << ((batch + batch // 2).bit_length() - 1)) - 1


def zone_highsize(zone: Zone, batch: int, cpu_online: int, high_fraction: int) -> int:
    """mm/page_alloc.c zone_highsize: the low watermark (fraction 0) or
    managed/fraction, split over the node's CPUs, at least 4 * batch."""
    if not high_fraction:
        total_pages = low_wmark_pages(zone)
    else:
        total_pages = zone.managed // high_fraction
    nr_split_cpus = len(zone.node.cpus) + cpu_online
    if not nr_split_cpus:
        nr_split_cpus = max(1, len(zone.pcp))      # num_online_cpus()
    high = total_pages // nr_split_cpus
    return max(high, batch << 2)


def zone_set_pageset_high_and_batch(pa: PageAllocator, zone: Zone, cpu_online: int) -> None:
    """mm/page_alloc.c zone_set_pageset_high_and_batch."""
    new_batch = max(1, zone_batchsize(zone.managed, pa.arch.page_size))
    if pa.percpu_pagelist_high_fraction:
        new_high_min = zone_highsize(zone, new_batch, cpu_online, pa.percpu_pagelist_high_fraction)
        new_high_max = new_high_min
    else:
        new_high_min = zone_highsize(zone, new_batch, cpu_online, 0)
        new_high_max = zone_highsize(zone, new_batch, cpu_online, MIN_PERCPU_PAGELIST_HIGH_FRACTION)
    if (zone.pageset_high_min, zone.pageset_high_max, zone.pageset_batch) == \
            (new_high_min, new_high_max, new_batch):
        return
    zone.pageset_high_min, zone.pageset_high_max, zone.pageset_batch = new_high_min, new_high_max, new_batch
    for pcp in zone.pcp:
        pcp.batch, pcp.high_min, pcp.high_max = new_batch, new_high_min, new_high_max


def set_min_free_kbytes(pa: PageAllocator, value: int) -> None:
    """proc/sys/vm/min_free_kbytes write (min_free_kbytes_sysctl_handler)."""
    pa.min_free_kbytes = value
    pa.user_min_free_kbytes = value
    setup_per_zone_wmarks(pa)


def set_watermark_scale_factor(pa: PageAllocator, value: int) -> None:
    """proc/sys/vm/watermark_scale_factor write (1..3000)."""
    if not 1 <= value <= 3000:
        raise ValueError("watermark_scale_factor must be 1..3000")
    pa.watermark_scale_factor = value
    setup_per_zone_wmarks(pa)


def set_lowmem_reserve_ratio(pa: PageAllocator, ratios: list[int]) -> None:
    """proc/sys/vm/lowmem_reserve_ratio write (lowmem_reserve_ratio_sysctl_handler:
    a value below 1 becomes 0)."""
    if len(ratios) != MAX_NR_ZONES:
        raise ValueError(f"lowmem_reserve_ratio takes {MAX_NR_ZONES} values")
    pa.lowmem_reserve_ratio = [r if r >= 1 else 0 for r in ratios]
    setup_per_zone_lowmem_reserve(pa)


def set_percpu_pagelist_high_fraction(pa: PageAllocator, value: int) -> None:
    """proc/sys/vm/percpu_pagelist_high_fraction write: 0 or >= 8."""
    if value and value < MIN_PERCPU_PAGELIST_HIGH_FRACTION:
        raise ValueError("percpu_pagelist_high_fraction must be 0 or at least 8")
    pa.percpu_pagelist_high_fraction = value
    for zone in pa.zones:
        zone_set_pageset_high_and_batch(pa, zone, 0)


# -- counters -----------------------------------------------------------------


def mod_node_page_state(pa: PageAllocator, node_id: int, item: str, delta: int) -> None:
    """mm/vmstat.c mod_node_page_state. A byte item (nr_slab_reclaimable_b,
    nr_slab_unreclaimable_b) takes bytes, a multiple of the page size, and
    is kept in pages under its /proc name. The slab items also keep
    VmStat's page counts, which reclaim reads for its progress."""
    name = NODE_BYTE_ITEMS.get(item)
    if name is not None:
        pages = delta >> pa.page_shift
        pa.nodes[node_id].vm_stat[name] += pages
        if name == "nr_slab_reclaimable":
            pa.vmstat.nr_slab_reclaimable += pages
        else:
            pa.vmstat.nr_slab_unreclaimable += pages
        return
    pa.nodes[node_id].vm_stat[item] += delta


def node_page_state(pa: PageAllocator, node_id: int, item: str) -> int:
    """node_page_state_pages: the node item in pages (a _b item by its /proc name)."""
    return pa.nodes[node_id].vm_stat[NODE_BYTE_ITEMS.get(item, item)]


def global_node_page_state(pa: PageAllocator, item: str) -> int:
    return sum(node_page_state(pa, n.id, item) for n in pa.nodes)


def zone_page_state(zone: Zone, item: str) -> int:
    return zone.vm_stat[item]


def account_freepages(zone: Zone, nr_pages: int, migratetype: int) -> None:
    """mm/page_alloc.c account_freepages."""
    if migratetype == MIGRATE_ISOLATE:
        return
    zone.free_pages += nr_pages
    zone.vm_stat["nr_free_pages"] += nr_pages
    if migratetype == MIGRATE_HIGHATOMIC:
        zone.nr_free_highatomic += nr_pages


def zone_statistics(pa: PageAllocator, preferred: Zone, z: Zone, nr_account: int) -> None:
    """mm/page_alloc.c zone_statistics (CONFIG_NUMA: counted with one node too)."""
    st = z.numa_stat
    if z.node is preferred.node:
        st["numa_hit"] += nr_account
    else:
        st["numa_miss"] += nr_account
        preferred.numa_stat["numa_foreign"] += nr_account
    if z.node.id == pa.cpu_node[pa.current.cpu]:
        st["numa_local"] += nr_account
    else:
        st["numa_other"] += nr_account


# -- pageblocks and free lists ------------------------------------------------------


def get_pfnblock_migratetype(zone: Zone, pfn: int) -> int:
    return zone.pageblock_flags[(pfn >> PAGEBLOCK_ORDER) - (zone.start_pfn >> PAGEBLOCK_ORDER)]


def set_pageblock_migratetype(zone: Zone, pfn: int, migratetype: int) -> None:
    zone.pageblock_flags[(pfn >> PAGEBLOCK_ORDER) - (zone.start_pfn >> PAGEBLOCK_ORDER)] = migratetype


def pageblock_counts(zone: Zone) -> list[int]:
    """The pageblocks of each migrate type (vmstat.c pagetypeinfo_showblockcount_print:
    one block every pageblock_nr_pages from zone_start_pfn)."""
    counts = [0] * MIGRATE_TYPES
    for pfn in range(zone.start_pfn, zone.end_pfn, PAGEBLOCK_NR_PAGES):
        counts[get_pfnblock_migratetype(zone, pfn)] += 1
    return counts


def add_to_free_list(zone: Zone, pfn: int, order: int, migratetype: int, tail: bool = False) -> None:
    """__add_to_free_list (set_buddy_order included; 6.18 counts the free
    blocks of pageblock size and more in nr_free_pages_blocks)."""
    area = zone.free_area[order]
    if tail:
        area.free_list[migratetype].add_tail(pfn)
    else:
        area.free_list[migratetype].add(pfn)
    area.nr_free += 1
    zone.buddy[pfn] = order
    if order >= PAGEBLOCK_ORDER and migratetype != MIGRATE_ISOLATE:
        zone.vm_stat["nr_free_pages_blocks"] += 1 << order


def __del_page_from_free_list(zone: Zone, pfn: int, order: int, migratetype: int) -> None:
    area = zone.free_area[order]
    area.free_list[migratetype].remove(pfn)
    area.nr_free -= 1
    del zone.buddy[pfn]
    if order >= PAGEBLOCK_ORDER and migratetype != MIGRATE_ISOLATE:
        zone.vm_stat["nr_free_pages_blocks"] -= 1 << order


def del_page_from_free_list(zone: Zone, pfn: int, order: int, migratetype: int) -> None:
    __del_page_from_free_list(zone, pfn, order, migratetype)
    account_freepages(zone, -(1 << order), migratetype)


def move_to_free_list(zone: Zone, pfn: int, order: int, old_mt: int, new_mt: int) -> None:
    area = zone.free_area[order]
    area.free_list[old_mt].remove(pfn)
    area.free_list[new_mt].add_tail(pfn)
    if order >= PAGEBLOCK_ORDER and (old_mt == MIGRATE_ISOLATE) != (new_mt == MIGRATE_ISOLATE):
        zone.vm_stat["nr_free_pages_blocks"] += (1 << order) if old_mt == MIGRATE_ISOLATE else -(1 << order)
    account_freepages(zone, -(1 << order), old_mt)
    account_freepages(zone, 1 << order, new_mt)


def change_pageblock_range(zone: Zone, pfn: int, start_order: int, migratetype: int) -> None:
    for i in range(1 << (start_order - PAGEBLOCK_ORDER)):
        set_pageblock_migratetype(zone, pfn + i * PAGEBLOCK_NR_PAGES, migratetype)


def migratetype_is_mergeable(mt: int) -> bool:
    return mt < MIGRATE_PCPTYPES


def find_buddy(zone: Zone, pfn: int, order: int) -> int | None:
    """find_buddy_page_pfn: the buddy's pfn if it is a free block of `order` in this zone."""
    buddy = pfn ^ (1 << order)
    return buddy if zone.buddy.get(buddy) == order else None


def buddy_merge_likely(zone: Zone, pfn: int, buddy_pfn: int, order: int) -> bool:
    if order >= MAX_PAGE_ORDER - 1:
        return False
    higher = buddy_pfn & pfn
    return find_buddy(zone, higher, order + 1) is not None


def __free_one_page(zone: Zone, pfn: int, order: int, migratetype: int, to_tail: bool = False) -> None:
    """mm/page_alloc.c __free_one_page: merge with free buddies as far as
    they go (across pageblocks only between mergeable types, the buddy's
    blocks taking ours), then add to the head of the list, or the tail when
    the next order's buddy is free too (buddy_merge_likely)."""
    account_freepages(zone, 1 << order, migratetype)
    while order < MAX_PAGE_ORDER:
        buddy = find_buddy(zone, pfn, order)
        if buddy is None:
            break
        buddy_mt = migratetype
        if order >= PAGEBLOCK_ORDER:
            buddy_mt = get_pfnblock_migratetype(zone, buddy)
            if migratetype != buddy_mt and (not migratetype_is_mergeable(migratetype)
                                            or not migratetype_is_mergeable(buddy_mt)):
                break
        __del_page_from_free_list(zone, buddy, order, buddy_mt)
        if buddy_mt != migratetype:
            change_pageblock_range(zone, buddy, order, migratetype)
        pfn &= buddy
        order += 1
    if not to_tail:
        # find_buddy_page_pfn left buddy_pfn at the last order it looked at
        to_tail = buddy_merge_likely(zone, pfn, pfn ^ (1 << order), order)
    add_to_free_list(zone, pfn, order, migratetype, tail=to_tail)


def expand(zone: Zone, pfn: int, low: int, high: int, migratetype: int) -> int:
    """mm/page_alloc.c expand: the upper halves back on the free lists (at
    their heads); returns the pages put back."""
    nr_added = 0
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        add_to_free_list(zone, pfn + size, high, migratetype)
        nr_added += size
    return nr_added


def page_del_and_expand(zone: Zone, pfn: int, low: int, high: int, migratetype: int) -> None:
    __del_page_from_free_list(zone, pfn, high, migratetype)
    nr_pages = (1 << high) - expand(zone, pfn, low, high, migratetype)
    account_freepages(zone, -nr_pages, migratetype)


def __rmqueue_smallest(pa: PageAllocator, zone: Zone, order: int, migratetype: int) -> int | None:
    """mm/page_alloc.c __rmqueue_smallest: the smallest block of the type's list, split down."""
    for current_order in range(order, NR_PAGE_ORDERS):
        pfn = zone.free_area[current_order].free_list[migratetype].first()
        if pfn is None:
            continue
        page_del_and_expand(zone, pfn, order, current_order, migratetype)
        hook = pa.trace.hook
        if hook is not None:
            hook("mm_page_alloc_zone_locked", None, pfn, migratetype, order)
        return pfn
    return None


def can_steal_fallback(order: int, start_mt: int) -> bool:
    """mm/page_alloc.c can_steal_fallback."""
    if order >= PAGEBLOCK_ORDER:
        return True
    return order >= PAGEBLOCK_ORDER // 2 or start_mt in (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE)


def boost_watermark(pa: PageAllocator, zone: Zone) -> bool:
    """mm/page_alloc.c boost_watermark: +1 pageblock, at most
    max(pageblock, high * boost_factor / 10000); none in a zone smaller
    than 4 pageblocks or when the factor is 0."""
    if not pa.watermark_boost_factor:
        return False
    if PAGEBLOCK_NR_PAGES * 4 > zone.managed:
        return False
    max_boost = zone.watermark[WMARK_HIGH] * pa.watermark_boost_factor // 10000
    if not max_boost:
        return False
    max_boost = max(PAGEBLOCK_NR_PAGES, max_boost)
    zone.watermark_boost = min(zone.watermark_boost + PAGEBLOCK_NR_PAGES, max_boost)
    return True


def prep_move_freepages_block(pa: PageAllocator, zone: Zone, pfn: int) -> tuple[int, int, int] | None:
    """mm/page_alloc.c prep_move_freepages_block: (start pfn, free pages,
    movable pages) of pfn's pageblock, None if it is not all in the zone.
    No page here is on an LRU or __PageMovable: movable_pages is 0."""
    start = pfn & ~(PAGEBLOCK_NR_PAGES - 1)
    end = start + PAGEBLOCK_NR_PAGES
    if start < zone.start_pfn or end > zone.end_pfn:
        return None
    free = 0
    p = start
    buddy = zone.buddy
    while p < end:
        order = buddy.get(p)
        if order is not None:
            free += 1 << order
            p += 1 << order
        else:
            p += 1
    return start, free, 0


def __move_freepages_block(zone: Zone, start: int, old_mt: int, new_mt: int) -> int:
    """Move every free block of the pageblock to new_mt's lists; returns pages moved."""
    moved = 0
    p = start
    end = start + PAGEBLOCK_NR_PAGES
    buddy = zone.buddy
    while p < end:
        order = buddy.get(p)
        if order is not None:
            move_to_free_list(zone, p, order, old_mt, new_mt)
            moved += 1 << order
            p += 1 << order
        else:
            p += 1
    set_pageblock_migratetype(zone, start, new_mt)
    return moved


def move_freepages_block(pa: PageAllocator, zone: Zone, pfn: int, old_mt: int, new_mt: int) -> int:
    prep = prep_move_freepages_block(pa, zone, pfn)
    if prep is None:
        return -1
    return __move_freepages_block(zone, prep[0], old_mt, new_mt)


def try_to_steal_block(pa: PageAllocator, zone: Zone, pfn: int, current_order: int, order: int,
                       start_type: int, alloc_flags: int) -> int | None:
    """mm/page_alloc.c try_to_steal_block."""
    block_type = get_pfnblock_migratetype(zone, pfn)
    if block_type == MIGRATE_HIGHATOMIC:
        return None
    if current_order >= PAGEBLOCK_ORDER:
        del_page_from_free_list(zone, pfn, current_order, block_type)
        change_pageblock_range(zone, pfn, current_order, start_type)
        nr_added = expand(zone, pfn, order, current_order, start_type)
        account_freepages(zone, nr_added, start_type)
        return pfn
    if boost_watermark(pa, zone) and alloc_flags & ALLOC_KSWAPD:
        zone.boosted_watermark = True
    prep = prep_move_freepages_block(pa, zone, pfn)
    if prep is None:
        return None
    start, free_pages, movable_pages = prep
    if start_type == MIGRATE_MOVABLE:
        alike_pages = movable_pages
    elif block_type == MIGRATE_MOVABLE:
        alike_pages = PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
    else:
        alike_pages = 0
    if free_pages + alike_pages >= (1 << (PAGEBLOCK_ORDER - 1)):
        __move_freepages_block(zone, start, block_type, start_type)
        return __rmqueue_smallest(pa, zone, order, start_type)
    return None


def find_suitable_fallback(area: FreeArea, order: int, migratetype: int,
                           only_stealable: bool) -> tuple[int, bool]:
    """mm/page_alloc.c find_suitable_fallback: (fallback type or -1, can_steal)."""
    if area.nr_free == 0:
        return -1, False
    can_steal = False
    for fallback_mt in FALLBACKS[migratetype]:
        if not area.free_list[fallback_mt]:
            continue
        if can_steal_fallback(order, migratetype):
            can_steal = True
        if not only_stealable or can_steal:
            return fallback_mt, can_steal
    return -1, can_steal


def _trace_extfrag(pa: PageAllocator, zone: Zone, pfn: int, order: int, current_order: int,
                   start_mt: int, fallback_mt: int) -> None:
    """trace_mm_page_alloc_extfrag: flags = (change_ownership << 16) |
    (alloc_migratetype << 8) | fallback_migratetype, size = (alloc_order <<
    8) | fallback_order; change_ownership: the pageblock is now the
    allocation's type."""
    hook = pa.trace.hook
    if hook is not None:
        owned = get_pfnblock_migratetype(zone, pfn) == start_mt
        hook("mm_page_alloc_extfrag", None, pfn, (owned << 16) | (start_mt << 8) | fallback_mt,
             (order << 8) | current_order)


def __rmqueue_claim(pa: PageAllocator, zone: Zone, order: int, start_mt: int,
                    alloc_flags: int) -> int | None:
    """mm/page_alloc.c __rmqueue_claim: the largest fallback block, claiming its pageblock."""
    min_order = order
    if order < PAGEBLOCK_ORDER and alloc_flags & ALLOC_NOFRAGMENT:
        min_order = PAGEBLOCK_ORDER
    for current_order in range(MAX_PAGE_ORDER, min_order - 1, -1):
        area = zone.free_area[current_order]
        fallback_mt, can_steal = find_suitable_fallback(area, current_order, start_mt, False)
        if fallback_mt == -1:
            continue
        if not can_steal:
            break
        first = area.free_list[fallback_mt].first()
        assert first is not None
        pfn = try_to_steal_block(pa, zone, first, current_order, order, start_mt, alloc_flags)
        if pfn is not None:
            _trace_extfrag(pa, zone, pfn, order, current_order, start_mt, fallback_mt)
            return pfn
    return None


def __rmqueue_steal(pa: PageAllocator, zone: Zone, order: int, start_mt: int) -> int | None:
    """mm/page_alloc.c __rmqueue_steal: one block of a fallback type, the pageblock left as it is."""
    for current_order in range(order, NR_PAGE_ORDERS):
        area = zone.free_area[current_order]
        fallback_mt, _ = find_suitable_fallback(area, current_order, start_mt, False)
        if fallback_mt == -1:
            continue
        pfn = area.free_list[fallback_mt].first()
        assert pfn is not None
        page_del_and_expand(zone, pfn, order, current_order, fallback_mt)
        _trace_extfrag(pa, zone, pfn, order, current_order, start_mt, fallback_mt)
        return pfn
    return None


RMQUEUE_NORMAL: Final = 0
RMQUEUE_CMA: Final = 1
RMQUEUE_CLAIM: Final = 2
RMQUEUE_STEAL: Final = 3


def __rmqueue(pa: PageAllocator, zone: Zone, order: int, migratetype: int, alloc_flags: int,
              mode: list[int]) -> int | None:
    """mm/page_alloc.c __rmqueue: the type's own lists, then claim a
    fallback pageblock, then (without ALLOC_NOFRAGMENT) steal one block.
    mode[0] remembers where rmqueue_bulk found pages (enum rmqueue_mode)."""
    if mode[0] == RMQUEUE_NORMAL:
        pfn = __rmqueue_smallest(pa, zone, order, migratetype)
        if pfn is not None:
            return pfn
    if mode[0] <= RMQUEUE_CLAIM:
        pfn = __rmqueue_claim(pa, zone, order, migratetype, alloc_flags)
        if pfn is not None:
            mode[0] = RMQUEUE_NORMAL
            return pfn
    if not alloc_flags & ALLOC_NOFRAGMENT:
        pfn = __rmqueue_steal(pa, zone, order, migratetype)
        if pfn is not None:
            mode[0] = RMQUEUE_STEAL
            return pfn
    return None


def rmqueue_bulk(pa: PageAllocator, zone: Zone, order: int, count: int, lst: deque[int],
                 migratetype: int, alloc_flags: int) -> int:
    """mm/page_alloc.c rmqueue_bulk: up to count blocks to the tail of lst."""
    mode = [RMQUEUE_NORMAL]
    mem_map = pa.mem_map
    i = 0
    while i < count:
        pfn = __rmqueue(pa, zone, order, migratetype, alloc_flags, mode)
        if pfn is None:
            break
        if order:
            mem_map.fill(pfn, pfn + (1 << order), PCP)
        else:
            mem_map.set(pfn, PCP)
        lst.append(pfn)
        i += 1
    return i


def nr_pcp_alloc(pcp: PerCpuPages, zone: Zone, order: int) -> int:
    """mm/page_alloc.c nr_pcp_alloc: the refill batch, doubling (alloc_factor)
    over consecutive order-0 refills without a free, and growing pcp->high
    towards high_max unless the zone is below its high watermark."""
    base_batch = pcp.batch
    high_min, high_max = pcp.high_min, pcp.high_max
    high = pcp.high = max(high_min, min(pcp.high, high_max))
    if high < base_batch:
        return 1
    batch = base_batch if order else base_batch << pcp.alloc_factor
    if high_min != high_max and not zone.below_high:
        high = pcp.high = min(high + batch, high_max)
    if not order:
        max_nr_alloc = max(high - pcp.count - base_batch, base_batch)
        if batch <= max_nr_alloc and pcp.alloc_factor < PCP_BATCH_SCALE_MAX:
            pcp.alloc_factor += 1
        batch = min(batch, max_nr_alloc)
    if batch > 1:
        batch = max(batch >> order, 2)
    return batch


def rmqueue_pcplist(pa: PageAllocator, preferred: Zone, zone: Zone, order: int, migratetype: int,
                    alloc_flags: int) -> int | None:
    """mm/page_alloc.c rmqueue_pcplist + __rmqueue_pcplist."""
    pcp = zone.pcp[pa.current.cpu]
    pcp.free_count >>= 1
    lst = pcp.lists[order_to_pindex(migratetype, order)]
    if not lst:
        batch = nr_pcp_alloc(pcp, zone, order)
        alloced = rmqueue_bulk(pa, zone, order, batch, lst, migratetype, alloc_flags)
        pcp.count += alloced << order
        if not lst:
            return None
    pfn = lst.popleft()
    pcp.count -= 1 << order
    pa.vm_events[_PGALLOC[zone.idx]] += 1 << order
    zone_statistics(pa, preferred, zone, 1)
    return pfn


_PGALLOC: Final = tuple(f"pgalloc_{z}" for z in _Z5)
_ALLOCSTALL: Final = tuple(f"allocstall_{z}" for z in _Z5)


def rmqueue_buddy(pa: PageAllocator, preferred: Zone, zone: Zone, order: int, alloc_flags: int,
                  migratetype: int) -> int | None:
    """mm/page_alloc.c rmqueue_buddy: HIGHATOMIC's reserve first for
    ALLOC_HIGHATOMIC, and as a last resort for ALLOC_OOM/NON_BLOCK."""
    pfn = None
    if alloc_flags & ALLOC_HIGHATOMIC:
        pfn = __rmqueue_smallest(pa, zone, order, MIGRATE_HIGHATOMIC)
    if pfn is None:
        pfn = __rmqueue(pa, zone, order, migratetype, alloc_flags, [RMQUEUE_NORMAL])
        if pfn is None and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
            pfn = __rmqueue_smallest(pa, zone, order, MIGRATE_HIGHATOMIC)
        if pfn is None:
            return None
    pa.vm_events[_PGALLOC[zone.idx]] += 1 << order
    zone_statistics(pa, preferred, zone, 1)
    return pfn


def rmqueue(pa: PageAllocator, preferred: Zone, zone: Zone, order: int, gfp_mask: int,
            alloc_flags: int, migratetype: int) -> int | None:
    """mm/page_alloc.c rmqueue: pcp for orders 0-3 and 9, else the buddy
    lists; a boosted watermark wakes kswapd."""
    pfn = None
    if pcp_allowed_order(order):
        pfn = rmqueue_pcplist(pa, preferred, zone, order, migratetype, alloc_flags)
    if pfn is None:
        pfn = rmqueue_buddy(pa, preferred, zone, order, alloc_flags, migratetype)
    if alloc_flags & ALLOC_KSWAPD and zone.boosted_watermark:
        zone.boosted_watermark = False
        wakeup_kswapd(pa, zone, 0, 0, zone.idx)
    return pfn


def reserve_highatomic_pageblock(pa: PageAllocator, pfn: int, order: int, zone: Zone) -> None:
    """mm/page_alloc.c reserve_highatomic_pageblock: at most ~1% of the zone."""
    if zone.managed // 100 < PAGEBLOCK_NR_PAGES:
        return
    max_managed = -(-(zone.managed // 100) // PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = get_pfnblock_migratetype(zone, pfn)
    if not migratetype_is_mergeable(mt):
        return
    if order < PAGEBLOCK_ORDER:
        if move_freepages_block(pa, zone, pfn, mt, MIGRATE_HIGHATOMIC) == -1:
            return
        zone.nr_reserved_highatomic += PAGEBLOCK_NR_PAGES
    else:
        change_pageblock_range(zone, pfn, order, MIGRATE_HIGHATOMIC)
        zone.nr_reserved_highatomic += 1 << order


def unreserve_highatomic_pageblock(pa: PageAllocator, ac: AllocContext, force: bool) -> bool:
    """mm/page_alloc.c unreserve_highatomic_pageblock."""
    for zone in ac.zonelist:
        if not force and zone.nr_reserved_highatomic <= PAGEBLOCK_NR_PAGES:
            continue
        for order in range(NR_PAGE_ORDERS):
            pfn = zone.free_area[order].free_list[MIGRATE_HIGHATOMIC].first()
            if pfn is None:
                continue
            mt = get_pfnblock_migratetype(zone, pfn)
            if mt == MIGRATE_HIGHATOMIC:
                size = max(PAGEBLOCK_NR_PAGES, 1 << order)
                size = min(size, zone.nr_reserved_highatomic)
                zone.nr_reserved_highatomic -= size
            if order < PAGEBLOCK_ORDER:
                ret = move_freepages_block(pa, zone, pfn, mt, ac.migratetype)
            else:
                move_to_free_list(zone, pfn, order, mt, ac.migratetype)
                change_pageblock_range(zone, pfn, order, ac.migratetype)
                ret = 1
            if ret > 0:
                return True
    return False


# -- watermarks --------------------------------------------------------------------


def min_wmark_pages(z: Zone) -> int:
    return z.watermark[WMARK_MIN] + z.watermark_boost


def low_wmark_pages(z: Zone) -> int:
    return z.watermark[WMARK_LOW] + z.watermark_boost


def high_wmark_pages(z: Zone) -> int:
    return z.watermark[WMARK_HIGH] + z.watermark_boost


def wmark_pages(z: Zone, i: int) -> int:
    return z.watermark[i] + z.watermark_boost


def __zone_watermark_unusable_free(z: Zone, order: int, alloc_flags: int) -> int:
    unusable = (1 << order) - 1
    if not alloc_flags & ALLOC_RESERVES:
        unusable += z.nr_free_highatomic
    return unusable


def __zone_watermark_ok(z: Zone, order: int, mark: int, highest_zoneidx: int, alloc_flags: int,
                        free_pages: int) -> bool:
    """mm/page_alloc.c __zone_watermark_ok."""
    min_ = mark
    free_pages -= __zone_watermark_unusable_free(z, order, alloc_flags)
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            min_ -= min_ // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                min_ -= min_ // 4
        if alloc_flags & ALLOC_OOM:
            min_ -= min_ // 2
    if free_pages <= min_ + z.lowmem_reserve[highest_zoneidx]:
        return False
    if not order:
        return True
    for o in range(order, NR_PAGE_ORDERS):
        area = z.free_area[o]
        if not area.nr_free:
            continue
        for mt in range(MIGRATE_PCPTYPES):
            if area.free_list[mt]:
                return True
        if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM) and area.free_list[MIGRATE_HIGHATOMIC]:
            return True
    return False


def zone_watermark_ok(z: Zone, order: int, mark: int, highest_zoneidx: int, alloc_flags: int) -> bool:
    return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, z.free_pages)


def zone_watermark_fast(z: Zone, order: int, mark: int, highest_zoneidx: int, alloc_flags: int,
                        gfp_mask: int) -> bool:
    """mm/page_alloc.c zone_watermark_fast."""
    free_pages = z.free_pages
    if not order:
        reserved = __zone_watermark_unusable_free(z, 0, alloc_flags)
        usable = free_pages - min(free_pages, reserved)
        if usable > mark + z.lowmem_reserve[highest_zoneidx]:
            return True
    if __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages):
        return True
    if not order and alloc_flags & ALLOC_MIN_RESERVE and z.watermark_boost and \
            (alloc_flags & ALLOC_WMARK_MASK) == WMARK_MIN:
        return __zone_watermark_ok(z, order, z.watermark[WMARK_MIN], highest_zoneidx, alloc_flags,
                                   free_pages)
    return False


# -- allocation ------------------------------------------------------------------


def alloc_flags_nofragment(pa: PageAllocator, zone: Zone | None, gfp_mask: int) -> int:
    """mm/page_alloc.c alloc_flags_nofragment (CONFIG_ZONE_DMA32)."""
    alloc_flags = gfp_mask & __GFP_KSWAPD_RECLAIM
    if zone is None or zone.idx != ZONE_NORMAL:
        return alloc_flags
    if len(pa.nodes) > 1 and not zone.node.node_zones[ZONE_DMA32].present:
        return alloc_flags
    return alloc_flags | ALLOC_NOFRAGMENT


def gfp_to_alloc_flags(pa: PageAllocator, gfp_mask: int, order: int) -> int:
    """mm/page_alloc.c gfp_to_alloc_flags (no rt tasks here, no CMA)."""
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
    if not gfp_mask & __GFP_DIRECT_RECLAIM:
        if not gfp_mask & __GFP_NOMEMALLOC:
            alloc_flags |= ALLOC_NON_BLOCK
            if order > 0 and alloc_flags & ALLOC_MIN_RESERVE:
                alloc_flags |= ALLOC_HIGHATOMIC
        if alloc_flags & ALLOC_MIN_RESERVE:
            alloc_flags &= ~ALLOC_CPUSET
    return alloc_flags


def __gfp_pfmemalloc_flags(pa: PageAllocator, gfp_mask: int) -> int:
    """mm/page_alloc.c __gfp_pfmemalloc_flags: __GFP_MEMALLOC (or PF_MEMALLOC:
    reclaim, kswapd) ignores the watermarks; an OOM victim gets ALLOC_OOM."""
    if gfp_mask & __GFP_NOMEMALLOC:
        return 0
    if gfp_mask & __GFP_MEMALLOC:
        return ALLOC_NO_WATERMARKS
    if pa.vmscan.kswapd_running:
        return ALLOC_NO_WATERMARKS
    if pa.current.memdie:
        return ALLOC_OOM
    return 0


def get_page_from_freelist(pa: PageAllocator, gfp_mask: int, order: int, alloc_flags: int,
                           ac: AllocContext) -> int | None:
    """mm/page_alloc.c get_page_from_freelist (no cpusets, no dirty limits,
    no node_reclaim, no deferred init)."""
    while True:
        no_fallback = alloc_flags & ALLOC_NOFRAGMENT
        retry = False
        preferred = ac.preferred_zone
        assert preferred is not None
        for zone in ac.zonelist:
            if no_fallback and len(pa.nodes) > 1 and zone is not preferred \
                    and zone.node is not preferred.node:
                alloc_flags &= ~ALLOC_NOFRAGMENT
                retry = True
                break
            if not zone.below_high:
                if zone_watermark_fast(zone, order, high_wmark_pages(zone), ac.highest_zoneidx,
                                       alloc_flags, gfp_mask):
                    pfn = _try_this_zone(pa, preferred, zone, order, gfp_mask, alloc_flags, ac)
                    if pfn is not None:
                        return pfn
                    continue
                zone.below_high = True
            mark = wmark_pages(zone, alloc_flags & ALLOC_WMARK_MASK)
            if not zone_watermark_fast(zone, order, mark, ac.highest_zoneidx, alloc_flags, gfp_mask):
                if not alloc_flags & ALLOC_NO_WATERMARKS:
                    continue
            pfn = _try_this_zone(pa, preferred, zone, order, gfp_mask, alloc_flags, ac)
            if pfn is not None:
                return pfn
        if retry:
            continue
        if no_fallback:
            alloc_flags &= ~ALLOC_NOFRAGMENT
            continue
        return None


def _try_this_zone(pa: PageAllocator, preferred: Zone, zone: Zone, order: int, gfp_mask: int,
                   alloc_flags: int, ac: AllocContext) -> int | None:
    pfn = rmqueue(pa, preferred, zone, order, gfp_mask, alloc_flags, ac.migratetype)
    if pfn is not None and alloc_flags & ALLOC_HIGHATOMIC:
        reserve_highatomic_pageblock(pa, pfn, order, zone)
    return pfn


def should_fail_alloc_page(pa: PageAllocator, gfp_mask: int, order: int) -> bool:
    """mm/fail_page_alloc.c should_fail_alloc_page: fault_inject.py's
    (6.18's knobs, task filter) when present; else with 6.18's bits here:
    __GFP_NOFAIL never fails; ignore-gfp-wait is ignore_gfp_reclaim
    (__GFP_DIRECT_RECLAIM); __GFP_NOWARN keeps it quiet."""
    fi = _part("fault_inject")
    if fi is not None:
        return bool(fi.should_fail_alloc_page(pa.faults, gfp_mask, order, pa.current))
    attr = pa.faults.fail_page_alloc
    if order < attr.min_order:
        return False
    if gfp_mask & __GFP_NOFAIL:
        return False
    if attr.ignore_gfp_highmem and gfp_mask & __GFP_HIGHMEM:
        return False
    if attr.ignore_gfp_wait and gfp_mask & __GFP_DIRECT_RECLAIM:
        return False
    return attr.should_fail(pa.log, 1 << order, bool(gfp_mask & __GFP_NOWARN))


def alloc_pages(pa: PageAllocator, gfp_mask: int, order: int, node_id: int | None = None,
                owner: PageOwner = PAGES) -> int | None:
    """Allocate 2**order contiguous frames; return the head pfn or None.

    Never blocks: where 6.18's __alloc_pages would loop waiting for memory
    (an OOM kill's victim to exit, __GFP_NOFAIL, a !__GFP_FS request the OOM
    killer cannot help), a caller that may sleep gets None with
    sched.sleep_request and sched.alloc_next set (sleep_and_retry). `owner`
    is what the frames record."""
    if order <= PAGE_ALLOC_COSTLY_ORDER and not pa.slow and pa.trace.hook is None:
        # The common case in one piece, exactly what the first
        # get_page_from_freelist attempt does when the preferred zone is
        # above its high watermark (zone_watermark_fast) and the CPU's list
        # has a block (rmqueue_pcplist); anything else (fault injection,
        # tracing: `slow`, or a trace hook set directly) takes the general path.
        current = pa.current
        cpu = current.cpu
        pref = pa.preferred[pa.cpu_node[cpu] if node_id is None else node_id][gfp_mask & GFP_ZONEMASK]
        if pref is not None and not current.killed:
            zone, highest = pref
            mark = zone.watermark[WMARK_HIGH] + zone.watermark_boost
            if not zone.below_high and not zone.boosted_watermark and \
                    (zone.free_pages - zone.nr_free_highatomic > mark + zone.lowmem_reserve[highest]
                     if not order else
                     __zone_watermark_ok(zone, order, mark, highest, 0, zone.free_pages)):
                pcp = zone.pcp[cpu]
                mt = (gfp_mask & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT
                lst = pcp.lists[MIGRATE_PCPTYPES * order + mt] if mt < MIGRATE_PCPTYPES else None
                if lst:
                    pcp.free_count >>= 1
                    pfn = lst.popleft()
                    pcp.count -= 1 << order
                    pa.vm_events[_PGALLOC[zone.idx]] += 1 << order
                    st = zone.numa_stat
                    st["numa_hit"] += 1
                    st["numa_local" if zone.node.id == pa.cpu_node[cpu] else "numa_other"] += 1
                    if order:
                        pa.mem_map.fill(pfn, pfn + (1 << order), owner)
                    else:
                        pa.mem_map.set(pfn, owner)
                    if owner.cache is None:
                        pa.alloc_order[pfn] = order
                    current.total_vm += 1 << order
                    if gfp_mask & __GFP_ZERO:
                        pa.mem.zero(pfn << pa.page_shift, 1 << (pa.page_shift + order))
                    return pfn
    twin = _twin()
    if twin is not None and alloc_may_report(pa, gfp_mask, order, node_id):
        served: int | None = twin.alloc_pages(pa, gfp_mask, order, node_id, owner)
        return served
    return __alloc_pages(pa, gfp_mask, order, node_id, owner)


def __alloc_pages(pa: PageAllocator, gfp_mask: int, order: int, node_id: int | None,
                  owner: PageOwner) -> int | None:
    """mm/page_alloc.c __alloc_pages_noprof: prepare_alloc_pages, the first
    attempt at the low watermark (ALLOC_NOFRAGMENT from a Normal zone),
    then the slow path. Fault injection first (should_fail_alloc_page)."""
    if order > MAX_PAGE_ORDER:
        return None                              # WARN_ON_ONCE_GFP
    p = pa.current
    if p.killed and (not p.memdie or p in pa.oom_dead):
        return None                              # dead: SIGKILL from the OOM killer
    if pa.faults.fail_page_alloc_armed and should_fail_alloc_page(pa, gfp_mask, order):
        return None                              # prepare_alloc_pages: no mm_page_alloc event
    if gfp_zone_bad(gfp_mask):
        pa.log.printk(KERN_WARNING, f"gfp_zone: GFP_ZONE_BAD mode:{gfp_mask:#x}({gfp_format(gfp_mask)})")
        return None
    if node_id is None:
        node_id = pa.cpu_node[p.cpu]
    highest = gfp_zone(gfp_mask)
    node = pa.nodes[node_id]
    # node_zonelist: ZONELIST_NOFALLBACK for __GFP_THISNODE
    zonelist = (node.zonelists_nofallback if gfp_mask & __GFP_THISNODE else node.zonelists)[highest]
    mt = gfp_migratetype(gfp_mask)
    if mt >= MIGRATE_PCPTYPES:
        # __GFP_MOVABLE|__GFP_RECLAIMABLE: VM_WARN_ON in gfp_migratetype; the
        # kernel would then index past fallbacks[]: served as unmovable here
        mt = MIGRATE_UNMOVABLE
    ac = AllocContext(zonelist, highest, mt, zonelist[0] if zonelist else None)
    pfn = None
    if zonelist:
        alloc_flags = ALLOC_WMARK_LOW | alloc_flags_nofragment(pa, ac.preferred_zone, gfp_mask)
        pfn = get_page_from_freelist(pa, gfp_mask | __GFP_HARDWALL, order, alloc_flags, ac)
        if pfn is None:
            pfn = __alloc_pages_slowpath(pa, gfp_mask, order, ac)
    if pfn is None:
        _trace_page_alloc(pa, -1, gfp_mask, order)
        return None
    prep_new_page(pa, pfn, order, gfp_mask, owner)
    _trace_page_alloc(pa, pfn, gfp_mask, order)
    return pfn


def _trace_page_alloc(pa: PageAllocator, pfn: int, gfp_mask: int, order: int) -> None:
    hook = pa.trace.hook
    if hook is not None:
        hook("mm_page_alloc", None, pfn, gfp_mask, order)


def prep_new_page(pa: PageAllocator, pfn: int, order: int, gfp_mask: int, owner: PageOwner) -> None:
    """The frames record their owner and the block its order; __GFP_ZERO clears them."""
    if order:
        pa.mem_map.fill(pfn, pfn + (1 << order), owner)
    else:
        pa.mem_map.set(pfn, owner)
    if owner.cache is None:
        pa.alloc_order[pfn] = order
    pa.current.total_vm += 1 << order
    if gfp_mask & __GFP_ZERO:
        pa.mem.zero(pfn << pa.page_shift, 1 << (pa.page_shift + order))


def wake_all_kswapds(pa: PageAllocator, order: int, gfp_mask: int, ac: AllocContext) -> None:
    last = None
    for zone in ac.zonelist:
        if not zone.managed:
            continue
        if zone.node is not last:
            wakeup_kswapd(pa, zone, gfp_mask, order, ac.highest_zoneidx)
            last = zone.node


def __alloc_pages_direct_reclaim(pa: PageAllocator, gfp_mask: int, order: int, alloc_flags: int,
                                 ac: AllocContext) -> tuple[int | None, int]:
    """mm/page_alloc.c __alloc_pages_direct_reclaim: try_to_free_pages, then
    the freelists; on failure drain the pcp lists and highatomic once."""
    progress = try_to_free_pages(pa, gfp_mask, order, ac)
    if not progress:
        return None, 0
    pfn = get_page_from_freelist(pa, gfp_mask, order, alloc_flags, ac)
    if pfn is None:
        unreserve_highatomic_pageblock(pa, ac, False)
        drain_all_pages(pa)
        pfn = get_page_from_freelist(pa, gfp_mask, order, alloc_flags, ac)
    return pfn, progress


def try_to_free_pages(pa: PageAllocator, gfp_mask: int, order: int, ac: AllocContext) -> int:
    """mm/vmscan.c try_to_free_pages/do_try_to_free_pages without LRU pages:
    allocstall_<reclaim_idx>, then shrink_slab at each priority from
    DEF_PRIORITY until SWAP_CLUSTER_MAX pages came back (the slab pages
    freed, reclaim_state->reclaimed). Returns the pages reclaimed."""
    pa.vm_events[_ALLOCSTALL[ac.highest_zoneidx]] += 1
    nr_reclaimed = 0
    saved = pa.vmscan.kswapd_running
    pa.vmscan.kswapd_running = True              # PF_MEMALLOC while reclaiming
    try:
        for _priority in range(DEF_PRIORITY, -1, -1):
            before = nr_slab_pages(pa.vmstat)
            shrink_slab(pa.vmscan, gfp_mask, 0, 0)
            nr_reclaimed += max(0, before - nr_slab_pages(pa.vmstat))
            if nr_reclaimed >= SWAP_CLUSTER_MAX:
                break
    finally:
        pa.vmscan.kswapd_running = saved
    return nr_reclaimed


def zone_reclaimable_pages(zone: Zone) -> int:
    """mm/vmscan.c zone_reclaimable_pages: LRU file (+anon with swap) pages: none here."""
    return 0


def should_reclaim_retry(pa: PageAllocator, gfp_mask: int, order: int, ac: AllocContext,
                         alloc_flags: int, did_some_progress: bool, loops: list[int]) -> bool:
    """mm/page_alloc.c should_reclaim_retry: the no-progress counter resets
    only on progress at order <= 3; give up after MAX_RECLAIM_RETRIES;
    retry while some zone would pass the min watermark with its reclaimable
    pages; before giving up, release the highatomic reserves."""
    if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
        loops[0] = 0
    else:
        loops[0] += 1
    ret = False
    if loops[0] <= MAX_RECLAIM_RETRIES:
        for zone in ac.zonelist:
            available = zone_reclaimable_pages(zone) + zone.free_pages
            if __zone_watermark_ok(zone, order, min_wmark_pages(zone), ac.highest_zoneidx,
                                   alloc_flags, available):
                ret = True
                break
    if not ret:
        return unreserve_highatomic_pageblock(pa, ac, True)
    return ret


def __alloc_pages_may_oom(pa: PageAllocator, gfp_mask: int, order: int,
                          ac: AllocContext) -> tuple[int | None, bool]:
    """mm/page_alloc.c __alloc_pages_may_oom: one more try at the high
    watermark, then the OOM killer unless the order is costly, the request
    is __GFP_RETRY_MAYFAIL/__GFP_THISNODE or below ZONE_NORMAL. Returns
    (page, did_some_progress)."""
    pfn = get_page_from_freelist(pa, (gfp_mask | __GFP_HARDWALL) & ~__GFP_DIRECT_RECLAIM, order,
                                 ALLOC_WMARK_HIGH | ALLOC_CPUSET, ac)
    if pfn is not None:
        return pfn, False
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return None, False
    if gfp_mask & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE):
        return None, False
    if ac.highest_zoneidx < ZONE_NORMAL:
        return None, False
    kills = pa.vm_events["oom_kill"]
    # the Kernel's OOM killer (oom_kill.py's, installed per machine), else the module's hook
    oom: Callable[[PageAllocator, int, int], bool] = pa.out_of_memory_hook or primary(__name__).out_of_memory
    progress = oom(pa, gfp_mask, order)
    pa.oom_killed = pa.vm_events["oom_kill"] != kills
    if progress or gfp_mask & __GFP_NOFAIL:
        progress = True
        if gfp_mask & __GFP_NOFAIL:
            pfn = get_page_from_freelist(pa, gfp_mask, order, ALLOC_NO_WATERMARKS, ac)
    return pfn, progress


def __alloc_pages_slowpath(pa: PageAllocator, gfp_mask: int, order: int,
                           ac: AllocContext) -> int | None:
    """mm/page_alloc.c __alloc_pages_slowpath, label for label (no
    compaction: it never finds a page here, COMPACT_SKIPPED). Where 6.18
    loops without end (the OOM killer made progress by killing another
    task, out_of_memory returned true without a kill for !__GFP_FS,
    __GFP_NOFAIL), the allocator does not block: sleep_and_retry."""
    can_direct_reclaim = bool(gfp_mask & __GFP_DIRECT_RECLAIM)
    nofail = bool(gfp_mask & __GFP_NOFAIL)
    costly_order = order > PAGE_ALLOC_COSTLY_ORDER
    p = pa.current
    if nofail and order > 1 and not pa.nofail_order_warned:
        pa.nofail_order_warned = True            # WARN_ON_ONCE(order > 1)
        pa.log.printk(KERN_WARNING, "------------[ cut here ]------------\n"
                                    f"WARNING: CPU: {p.cpu} PID: {max(p.pid, 0)} at mm/page_alloc.c:4309"
                                    " __alloc_pages_slowpath.constprop.0")
    victim = False
    loops = [0]
    alloc_flags = gfp_to_alloc_flags(pa, gfp_mask, order)
    if ac.preferred_zone is None:
        return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
    if alloc_flags & ALLOC_KSWAPD:
        wake_all_kswapds(pa, order, gfp_mask, ac)
    pfn = get_page_from_freelist(pa, gfp_mask, order, alloc_flags, ac)
    if pfn is not None:
        return pfn
    can_compact = bool(gfp_mask & __GFP_IO)       # gfp_compaction_allowed (CONFIG_COMPACTION)
    if can_direct_reclaim and can_compact and costly_order and gfp_mask & __GFP_NORETRY \
            and not __gfp_pfmemalloc_flags(pa, gfp_mask):
        # __alloc_pages_direct_compact found nothing: COMPACT_SKIPPED
        return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
    while True:
        # retry:
        if alloc_flags & ALLOC_KSWAPD:
            wake_all_kswapds(pa, order, gfp_mask, ac)
        reserve_flags = __gfp_pfmemalloc_flags(pa, gfp_mask)
        if reserve_flags:
            alloc_flags = reserve_flags | (alloc_flags & ALLOC_KSWAPD)
        pfn = get_page_from_freelist(pa, gfp_mask, order, alloc_flags, ac)
        if reserve_flags & ALLOC_OOM:
            victim = True
            if p.killed:
                # SIGKILLed: the task exits after this allocation, so its
                # later ones fail (__alloc_pages); tsk_is_oom_victim stays true
                if len(pa.oom_dead) > 4096:
                    pa.oom_dead.clear()
                pa.oom_dead.add(p)
        if pfn is not None:
            return pfn
        if not can_direct_reclaim:
            return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
        if pa.vmscan.kswapd_running:              # PF_MEMALLOC: no reclaim recursion
            return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
        pfn, progress = __alloc_pages_direct_reclaim(pa, gfp_mask, order, alloc_flags, ac)
        if pfn is not None:
            return pfn
        if gfp_mask & __GFP_NORETRY:
            return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
        if costly_order and (not can_compact or not gfp_mask & __GFP_RETRY_MAYFAIL):
            return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
        if should_reclaim_retry(pa, gfp_mask, order, ac, alloc_flags, progress > 0, loops):
            continue
        pfn, oom_progress = __alloc_pages_may_oom(pa, gfp_mask, order, ac)
        if pfn is not None:
            return pfn
        if (victim or p.memdie) and (alloc_flags & ALLOC_OOM or gfp_mask & __GFP_NOMEMALLOC):
            return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)
        if oom_progress:
            loops[0] = 0
            if p.memdie:
                continue                          # current is the victim: ALLOC_OOM at once
            # 6.18 retries at once and again until the victim's memory comes
            # back (or, without __GFP_FS, until someone frees): here, sleep
            # until a free
            return sleep_and_retry(pa, gfp_mask, order, "oom" if pa.oom_killed else "retry")
        return nopage(pa, gfp_mask, order, ac, can_direct_reclaim, nofail)


def nopage(pa: PageAllocator, gfp_mask: int, order: int, ac: AllocContext, can_direct_reclaim: bool,
           nofail: bool) -> int | None:
    """`nopage:` of __alloc_pages_slowpath: __GFP_NOFAIL (with direct
    reclaim) tries ALLOC_MIN_RESERVE (__alloc_pages_cpuset_fallback) and
    goes again (here: sleeps); else warn_alloc and NULL."""
    if nofail and can_direct_reclaim:
        if ac.preferred_zone is not None:
            pfn = get_page_from_freelist(pa, gfp_mask, order, ALLOC_MIN_RESERVE | ALLOC_CPUSET, ac)
            if pfn is not None:
                return pfn
        return sleep_and_retry(pa, gfp_mask, order, "nofail")
    pa.pending_trace = None
    warn_alloc_failure(pa, gfp_mask, order)
    return None


def sleep_and_retry(pa: PageAllocator, gfp_mask: int, order: int, what: str) -> int | None:
    """Where 6.18 loops in the slow path for ever, a caller that may sleep is
    told to (sched.sleep_request, alloc_next = what) and retries after a
    free; anyone else fails now with the failure report."""
    sched = pa.sched
    sched.alloc_next = what
    if sched.sleep_ok:
        sched.sleep_request = (gfp_mask, order)
        # the stack to show if the caller's wait ends in warn_alloc_failure
        sm = _part("show_mem")
        pa.pending_trace = None
        if sm is not None and not gfp_mask & __GFP_NOWARN:
            pa.pending_trace = str(sm.dump_stack(pa, ("dump_stack_lvl", "warn_alloc"), sys._getframe(1)))
        return None
    pa.pending_trace = None
    warn_alloc_failure(pa, gfp_mask, order)
    return None


def sleep_deadline(sched: Sched, gfp_mask: int, now: float, wait_s: float) -> float:
    """When a sleeping allocation's wait ends (for the FUSE side), with
    6.18's bits: never for __GFP_NOFAIL or with retry_forever (6.18 loops
    for ever), else after the mount's bounded wait. (sched.sleep_deadline
    tests 2.6's __GFP_NOFAIL, 0x800, which is __GFP_KSWAPD_RECLAIM here.)"""
    if gfp_mask & __GFP_NOFAIL or sched.retry_forever:
        return math.inf
    return now + wait_s


def warn_alloc_failure(pa: PageAllocator, gfp_mask: int, order: int) -> None:
    """`nopage:`'s warn_alloc(gfp_mask, NULL, "page allocation failure:
    order:%u"): warn_alloc's tests (__GFP_NOWARN, nopage_rs: one report per
    10 s, __GFP_DMA with no DMA zone: has_managed_dma), then the report
    (warn_alloc_hook). Counts pgalloc_fail (not a 6.18 counter: the mount's)."""
    pa.vm_events["pgalloc_fail"] = pa.vm_events.get("pgalloc_fail", 0) + 1
    if gfp_mask & __GFP_NOWARN:
        return
    if not __ratelimit(pa, pa.nopage_rs, "warn_alloc"):
        return
    if gfp_mask & __GFP_DMA and not any(n.node_zones[ZONE_DMA].managed for n in pa.nodes):
        return                                   # __GFP_DMA without a DMA zone (has_managed_dma)
    hook: Callable[[PageAllocator, int, int, str], None] = primary(__name__).warn_alloc_hook
    hook(pa, gfp_mask, order, f"page allocation failure: order:{order}")
    pa.pending_trace = None


@dataclass(slots=True)
class RatelimitState:
    """struct ratelimit_state (include/linux/ratelimit_types.h)."""
    interval: int
    burst: int
    begin: int = 0
    printed: int = 0
    missed: int = 0


def __ratelimit(pa: PageAllocator, rs: RatelimitState, func: str) -> bool:
    """lib/ratelimit.c ___ratelimit: at most `burst` per `interval` jiffies;
    a new interval reports what was suppressed."""
    now = pa.log.jiffies()
    if not rs.begin:
        rs.begin = now or 1
    if now > rs.begin + rs.interval:
        if rs.missed:
            pa.log.printk(KERN_WARNING, f"{func}: {rs.missed} callbacks suppressed")
            rs.missed = 0
        rs.begin = now
        rs.printed = 0
    if rs.burst and rs.burst > rs.printed:
        rs.printed += 1
        return True
    rs.missed += 1
    return False


# -- kswapd (mm/vmscan.c) ------------------------------------------------------


def pgdat_balanced(pa: PageAllocator, node: Node, order: int, highest_zoneidx: int) -> bool:
    """mm/vmscan.c pgdat_balanced: some managed zone <= highest_zoneidx is above high."""
    mark = -1
    for i in range(highest_zoneidx + 1):
        zone = node.node_zones[i]
        if not zone.managed:
            continue
        mark = high_wmark_pages(zone)
        if __zone_watermark_ok(zone, order, mark, highest_zoneidx, 0, zone.free_pages):
            return True
    return mark == -1


def pgdat_watermark_boosted(node: Node, highest_zoneidx: int) -> bool:
    return any(node.node_zones[i].managed and node.node_zones[i].watermark_boost
               for i in range(highest_zoneidx, -1, -1))


def wakeup_kswapd(pa: PageAllocator, zone: Zone, gfp_flags: int, order: int, highest_zoneidx: int) -> None:
    """mm/vmscan.c wakeup_kswapd: record the order and zone index asked
    for; wake the node's kswapd unless it is hopeless (kswapd_failures) or
    the node is balanced and not boosted."""
    if not zone.managed:
        return
    node = zone.node
    if node.kswapd_highest_zoneidx == MAX_NR_ZONES or node.kswapd_highest_zoneidx < highest_zoneidx:
        node.kswapd_highest_zoneidx = highest_zoneidx
    if node.kswapd_order < order:
        node.kswapd_order = order
    if node.kswapd_woken:
        return                                   # !waitqueue_active: it is awake already
    if node.kswapd_failures >= MAX_RECLAIM_RETRIES or \
            (pgdat_balanced(pa, node, order, highest_zoneidx)
             and not pgdat_watermark_boosted(node, highest_zoneidx)):
        return
    node.kswapd_woken = True
    if node.kswapd_slept_at is not None and pa.log.jiffies() - node.kswapd_slept_at < KSWAPD_NAP:
        pa.vm_events["kswapd_low_wmark_hit_quickly"] += 1    # woken during its HZ/10 nap
    if pa.kswapd_wake is not None:
        pa.kswapd_wake(node.id)


def balance_pgdat(pa: PageAllocator, node: Node, order: int, highest_zoneidx: int) -> int:
    """mm/vmscan.c balance_pgdat without LRU pages: pageoutrun; reclaim for
    the boost first (restarting without it when the node is unbalanced),
    then until the node is balanced at the high watermark, priority
    DEF_PRIORITY down to 1, each pass shrink_slab(GFP_KERNEL) (the slab
    pages freed are the progress; no progress lowers the priority). A run
    that reclaimed nothing counts kswapd_failures; the boost reclaimed for
    is taken off. Returns the pages reclaimed."""
    pa.vm_events["pageoutrun"] += 1
    zone_boosts = [z.watermark_boost if z.managed else 0 for z in node.node_zones[:highest_zoneidx + 1]]
    nr_boost_reclaim = sum(zone_boosts)
    boosted = nr_boost_reclaim > 0
    total = 0
    vmscan = pa.vmscan
    vmscan.kswapd_running = True                 # PF_MEMALLOC | PF_KSWAPD
    balanced_out = False
    try:
        while True:
            # restart:
            for z in node.node_zones[:highest_zoneidx + 1]:
                z.reclaim_active = bool(z.managed)     # set_reclaim_active
            priority = DEF_PRIORITY
            restart = False
            while priority >= 1:
                balanced = pgdat_balanced(pa, node, order, highest_zoneidx)
                if not balanced and nr_boost_reclaim:
                    nr_boost_reclaim = 0
                    restart = True
                    break
                if not nr_boost_reclaim and balanced:
                    balanced_out = True
                    break
                before = nr_slab_pages(pa.vmstat)
                shrink_slab(vmscan, GFP_KERNEL, 0, 0)
                nr_reclaimed = max(0, before - nr_slab_pages(pa.vmstat))
                total += nr_reclaimed
                nr_boost_reclaim -= min(nr_boost_reclaim, nr_reclaimed)
                if nr_boost_reclaim and not nr_reclaimed:
                    break
                priority -= 1                    # raise_priority (kswapd_shrink_node reclaims nothing on LRUs)
            if not restart:
                break
        if not balanced_out and not total:
            node.kswapd_failures += 1
    finally:
        vmscan.kswapd_running = False
        for z in node.node_zones:
            z.reclaim_active = False             # clear_reclaim_active
    if boosted:
        for i, boost in enumerate(zone_boosts):
            if boost:
                z = node.node_zones[i]
                z.watermark_boost -= min(z.watermark_boost, boost)
    return total


def prepare_kswapd_sleep(pa: PageAllocator, node: Node, order: int, highest_zoneidx: int) -> bool:
    """mm/vmscan.c prepare_kswapd_sleep: a hopeless node sleeps, so does a balanced one."""
    if node.kswapd_failures >= MAX_RECLAIM_RETRIES:
        return True
    return pgdat_balanced(pa, node, order, highest_zoneidx)


KSWAPD_NAP: Final = HZ // 10            # kswapd_try_to_sleep's schedule_timeout(HZ/10)


def kswapd_run(pa: PageAllocator) -> int:
    """One turn of each woken kswapd's loop (mm/vmscan.c kswapd): take
    kswapd_order and kswapd_highest_zoneidx, run balance_pgdat as the
    kswapd<N> thread, then kswapd_try_to_sleep: a balanced (or hopeless)
    node's kswapd sleeps; otherwise it counts kswapd_high_wmark_hit_quickly
    and stays woken for the caller (the mount's background task) to run
    again. Returns the pages reclaimed."""
    total = 0
    sched = pa.sched
    for node in pa.nodes:
        if not node.kswapd_woken or node.kswapd is None:
            continue
        order = node.kswapd_order
        highest = node.kswapd_highest_zoneidx
        if highest == MAX_NR_ZONES:
            highest = MAX_NR_ZONES - 1
        node.kswapd_order = 0
        node.kswapd_highest_zoneidx = MAX_NR_ZONES
        saved = sched.current
        switch_to(sched, node.kswapd)
        try:
            total += balance_pgdat(pa, node, order, highest)
        finally:
            switch_to(sched, saved)
        if prepare_kswapd_sleep(pa, node, order, highest):
            node.kswapd_woken = False
            node.kswapd_slept_at = pa.log.jiffies()
        else:
            pa.vm_events["kswapd_high_wmark_hit_quickly"] += 1
    return total


# -- freeing ----------------------------------------------------------------


def __free_pages(pa: PageAllocator, pfn: int, order: int, slab_pages: bool = False) -> bool:
    """Give a block back (put_page_testzero -> free_unref_page or
    __free_pages_ok). A block that is not allocated, is freed with another
    order than it was allocated with, or belongs to a slab (unless the slab
    allocator frees it) is a logged "Bad page state" and is left alone.
    Returns True if freed."""
    mem_map = pa.mem_map
    if not 0 <= pfn < pa.nr_pages:
        return bad_page(pa, pfn, order, None)
    if slab_pages:
        owner = mem_map[pfn]
        if owner is None or owner.cache is None or owner.pfn != pfn:
            return bad_page(pa, pfn, order, None)
    else:
        got = pa.alloc_order.pop(pfn, None)
        if got is None or got != order:
            return bad_page(pa, pfn, order, got)
    hook = pa.trace.hook
    if hook is not None:
        hook("mm_page_free", None, pfn, 0, order)
    zone = pa.zones_by_pfn[bisect_right(pa.zone_starts, pfn) - 1]
    current = pa.current
    current.total_vm = max(0, current.total_vm - (1 << order))
    if pcp_allowed_order(order):
        free_unref_page(pa, zone, pfn, order)
    else:
        __free_pages_ok(pa, zone, pfn, order)
    waiters = pa.free_waiters
    if waiters is not None:
        waiters()
    return True


def __free_pages_ok(pa: PageAllocator, zone: Zone, pfn: int, order: int) -> None:
    """mm/page_alloc.c __free_pages_ok -> free_one_page -> split_large_buddy."""
    pa.mem_map.fill(pfn, pfn + (1 << order), FREE)
    pa.vm_events["pgfree"] += 1 << order
    free_one_page(zone, pfn, order)


def free_one_page(zone: Zone, pfn: int, order: int) -> None:
    """split_large_buddy: a block larger than a pageblock is freed per pageblock."""
    end = pfn + (1 << order)
    step = min(order, PAGEBLOCK_ORDER)
    while pfn < end:
        __free_one_page(zone, pfn, step, get_pfnblock_migratetype(zone, pfn))
        pfn += 1 << step


def free_unref_page(pa: PageAllocator, zone: Zone, pfn: int, order: int) -> None:
    """mm/page_alloc.c free_unref_page: to the CPU's pcp list of the
    pageblock's type (HIGHATOMIC as MOVABLE; ISOLATE straight to the buddy)."""
    migratetype = get_pfnblock_migratetype(zone, pfn)
    if migratetype >= MIGRATE_PCPTYPES:
        if migratetype == MIGRATE_ISOLATE:
            __free_pages_ok(pa, zone, pfn, order)
            return
        migratetype = MIGRATE_MOVABLE
    if order:
        pa.mem_map.fill(pfn, pfn + (1 << order), PCP)
    else:
        pa.mem_map.set(pfn, PCP)
    free_unref_page_commit(pa, zone, zone.pcp[pa.current.cpu], pfn, migratetype, order)


def nr_pcp_free(pcp: PerCpuPages, batch: int, high: int, free_high: bool) -> int:
    """mm/page_alloc.c nr_pcp_free."""
    if free_high:
        return min(pcp.count, batch << PCP_BATCH_SCALE_MAX)
    if high < batch:
        return 1
    min_nr_free, max_nr_free = batch, high - batch
    return max(min_nr_free, min(pcp.free_count, max_nr_free))


def nr_pcp_high(pcp: PerCpuPages, zone: Zone, batch: int, free_high: bool) -> int:
    """mm/page_alloc.c nr_pcp_high: the high limit now, tuning pcp->high down
    while the zone is below its high watermark or reclaim runs, up when the
    list fills without the zone being short."""
    high_min, high_max = pcp.high_min, pcp.high_max
    high = pcp.high = max(high_min, min(pcp.high, high_max))
    if not high:
        return 0
    if free_high:
        pcp.high = max(high - (batch << PCP_BATCH_SCALE_MAX), high_min)
        return 0
    if zone.reclaim_active:
        free_count = max(pcp.free_count, batch)
        pcp.high = max(high - free_count, high_min)
        return min(batch << 2, pcp.high)
    if high_min == high_max:
        return high
    if zone.below_high:
        free_count = max(pcp.free_count, batch)
        pcp.high = max(high - free_count, high_min)
        high = max(pcp.count, high_min)
    elif pcp.count >= high:
        need_high = pcp.free_count + batch
        if pcp.high < need_high:
            pcp.high = max(high_min, min(need_high, high_max))
    return high


def free_unref_page_commit(pa: PageAllocator, zone: Zone, pcp: PerCpuPages, pfn: int,
                           migratetype: int, order: int) -> None:
    """mm/page_alloc.c free_unref_page_commit."""
    pcp.alloc_factor >>= 1
    pa.vm_events["pgfree"] += 1 << order
    pindex = order_to_pindex(migratetype, order)
    pcp.lists[pindex].appendleft(pfn)
    pcp.count += 1 << order
    batch = pcp.batch
    free_high = False
    if order and order <= PAGE_ALLOC_COSTLY_ORDER:
        free_high = (pcp.free_count >= batch and bool(pcp.flags & PCPF_PREV_FREE_HIGH_ORDER)
                     and (not pcp.flags & PCPF_FREE_HIGH_BATCH or pcp.count >= batch))
        pcp.flags |= PCPF_PREV_FREE_HIGH_ORDER
    elif pcp.flags & PCPF_PREV_FREE_HIGH_ORDER:
        pcp.flags &= ~PCPF_PREV_FREE_HIGH_ORDER
    if pcp.free_count < (batch << PCP_BATCH_SCALE_MAX):
        pcp.free_count += 1 << order
    high = nr_pcp_high(pcp, zone, batch, free_high)
    if pcp.count >= high:
        free_pcppages_bulk(pa, zone, nr_pcp_free(pcp, batch, high, free_high), pcp, pindex)
        if zone.below_high and zone_watermark_ok(zone, 0, high_wmark_pages(zone), ZONE_MOVABLE, 0):
            zone.below_high = False


def free_pcppages_bulk(pa: PageAllocator, zone: Zone, count: int, pcp: PerCpuPages, pindex: int) -> None:
    """mm/page_alloc.c free_pcppages_bulk: `count` pages from the tails of
    the lists, round robin from pindex, back to the buddy lists."""
    count = min(pcp.count, count)
    pindex -= 1
    mem_map = pa.mem_map
    hook = pa.trace.hook
    while count > 0:
        while True:
            pindex += 1
            if pindex > NR_PCP_LISTS - 1:
                pindex = 0
            lst = pcp.lists[pindex]
            if lst:
                break
        order = pindex_to_order(pindex)
        nr_pages = 1 << order
        while True:
            pfn = lst.pop()
            mt = get_pfnblock_migratetype(zone, pfn)
            count -= nr_pages
            pcp.count -= nr_pages
            if order:
                mem_map.fill(pfn, pfn + nr_pages, FREE)
            else:
                mem_map.set(pfn, FREE)
            __free_one_page(zone, pfn, order, mt)
            if hook is not None:
                hook("mm_page_pcpu_drain", None, pfn, mt, order)
            if count <= 0 or not lst:
                break


def decay_pcp_high(pa: PageAllocator, zone: Zone, pcp: PerCpuPages) -> bool:
    """mm/page_alloc.c decay_pcp_high (from the vmstat updater, every
    second): high drops by 1/8 towards high_min, the excess is freed in batches."""
    todo = False
    high_min, batch = pcp.high_min, pcp.batch
    if pcp.high > high_min:
        pcp.high = max(pcp.count - (batch << PCP_BATCH_SCALE_MAX), pcp.high - (pcp.high >> 3), high_min)
        if pcp.high > high_min:
            todo = True
    to_drain = pcp.count - pcp.high
    while to_drain > 0:
        n = min(to_drain, batch)
        free_pcppages_bulk(pa, zone, n, pcp, 0)
        todo = True
        to_drain -= n
    return todo


def refresh_cpu_vm_stats(pa: PageAllocator) -> None:
    """mm/vmstat.c refresh_cpu_vm_stats(do_pagesets): decay every pcp's high."""
    for zone in pa.zones:
        for pcp in zone.pcp:
            decay_pcp_high(pa, zone, pcp)


def drain_all_pages(pa: PageAllocator) -> None:
    """mm/page_alloc.c drain_all_pages(NULL): every CPU's pcp lists to the buddy lists."""
    for zone in pa.zones:
        for pcp in zone.pcp:
            if pcp.count:
                free_pcppages_bulk(pa, zone, pcp.count, pcp, 0)


def bad_page(pa: PageAllocator, pfn: int, order: int, got: int | None) -> bool:
    """mm/page_alloc.c bad_page: "BUG: Bad page state in process %s  pfn:%05lx"."""
    if got is not None:
        pa.alloc_order[pfn] = got
    owner = page_owner(pa, pfn)
    cache = owner.cache if owner is not None else None
    if cache is not None and owner is not None and owner.pfn == pfn:
        reason = f"owned by the slab cache {cache.name}"
    elif cache is not None:
        reason = f"inside a slab of cache {cache.name}"
    elif got is None:
        reason = "not allocated"
    else:
        reason = f"allocated with order {got}, freed with order {order}"
    pa.log.printk(KERN_ALERT, f"BUG: Bad page state in process {pa.current.comm[:16]}  pfn:{pfn:05x}\n"
                              f"page dumped because: {reason}")
    return False


def free_pages(pa: PageAllocator, addr: int, order: int) -> bool:
    """free_pages(addr, order): __free_pages of the frame at a physical address."""
    return __free_pages(pa, addr >> pa.page_shift, order)


# -- queries ----------------------------------------------------------------


def nr_free_pages(pa: PageAllocator) -> int:
    return sum(z.free_pages for z in pa.zones)


def page_zone(pa: PageAllocator, pfn: int) -> Zone:
    """The zone of a pfn; ValueError for a pfn in no zone."""
    i = bisect_right(pa.zone_starts, pfn) - 1
    if i >= 0:
        zone = pa.zones_by_pfn[i]
        if zone.start_pfn <= pfn < zone.end_pfn:
            return zone
    raise ValueError(f"pfn {pfn:#x} is in no zone")


def page_owner(pa: PageAllocator, pfn: int) -> PageOwner | None:
    """Who owns frame pfn (None: free in the buddy lists, or no such frame)."""
    return pa.mem_map[pfn] if 0 <= pfn < pa.nr_pages else None


def page_block_order(pa: PageAllocator, pfn: int) -> int | None:
    """The order of the alloc_pages block that starts at pfn, or None."""
    return pa.alloc_order.get(pfn)


def struct_page_address(pa: PageAllocator, pfn: int) -> int:
    """The address of pfn's struct page: SPARSEMEM_VMEMMAP's vmemmap array
    at VMEMMAP_START 0xffffea0000000000 (4-level, no KASLR), pfn * 64."""
    return (VMEMMAP_START + pfn * pa.arch.sizeof_struct_page) & pa.arch.address_mask


VMEMMAP_START: Final = 0xFFFFEA0000000000


def __get_free_pages(pa: PageAllocator, gfp_mask: int, order: int) -> int | None:
    """mm/page_alloc.c get_free_pages_noprof: the pages' address, or None
    (no HighMem on x86_64: every page has one)."""
    twin = _twin()
    if twin is not None and alloc_may_report(pa, gfp_mask & ~__GFP_HIGHMEM, order, None):
        addr: int | None = twin.__get_free_pages(pa, gfp_mask, order)
        return addr
    pfn = alloc_pages(pa, gfp_mask & ~__GFP_HIGHMEM, order)
    if pfn is None:
        return None
    return pfn << pa.page_shift


def get_zeroed_page(pa: PageAllocator, gfp_mask: int) -> int | None:
    """mm/page_alloc.c get_zeroed_page_noprof."""
    twin = _twin()
    if twin is not None and alloc_may_report(pa, gfp_mask | __GFP_ZERO, 0, None):
        addr: int | None = twin.get_zeroed_page(pa, gfp_mask)
        return addr
    return __get_free_pages(pa, gfp_mask | __GFP_ZERO, 0)


def show_mem(pa: PageAllocator) -> str:
    """__show_mem: show_mem.py's; without it, a minimal summary."""
    sm = _part("show_mem")
    if sm is not None:
        return str(sm.show_mem(pa))
    lines = ["Mem-Info:"]
    for zone in pa.zones:
        if not zone.present:
            continue
        lines.append(f"Node {zone.node.id} {zone.name} free:{zone.free_pages << 2}kB"
                     f" boost:{zone.watermark_boost << 2}kB min:{min_wmark_pages(zone) << 2}kB"
                     f" low:{low_wmark_pages(zone) << 2}kB high:{high_wmark_pages(zone) << 2}kB"
                     f" present:{zone.present << 2}kB managed:{zone.managed << 2}kB")
        lines.append("lowmem_reserve[]: " + " ".join(str(r) for r in zone.lowmem_reserve))
    lines.append(f"{sum(n.present for n in pa.nodes)} pages RAM")
    lines.append("0 pages HighMem/MovableOnly")
    lines.append(f"{sum(z.present - z.managed for z in pa.zones)} pages reserved")
    return "\n".join(lines)
