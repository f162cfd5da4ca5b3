"""Zones and the buddy page allocator, after 2.6.18 mm/page_alloc.c.

Pages are named by their page frame number (pfn); `struct page *` of the kernel is
a pfn here. Each zone keeps free_area[0..MAX_ORDER-1] as insertion-ordered dicts
(pfn -> None) so that the list head is the most recently freed block and removing
a buddy is O(1). Order-0 pages also go through per-CPU hot and cold lists
(2.6.18 struct per_cpu_pages pcp[2]).

The part is `PageAllocator` (state only); the kernel's functions are the
module-level functions below, each taking it first.
"""
from __future__ import annotations

import math
import sys
import zlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final, Protocol

from mypy_extensions import mypyc_attr

from . import oom_kill
from .arch import Arch
from .counters import Counters
from .fault_inject import FaultInject, should_fail_alloc_page
from .gfp import (
    __GFP_COLD,
    __GFP_FS,
    __GFP_HARDWALL,
    __GFP_HIGH,
    __GFP_HIGHMEM,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_REPEAT,
    __GFP_WAIT,
    __GFP_ZERO,
    GFP_ZONEMASK,
    ZONE_DMA,
    ZONE_HIGHMEM,
    ZONE_NORMAL,
    gfp_zone,
)
from .physmem import PhysMem
from .printk import KERN_EMERG, KERN_ERR, KERN_INFO, KERN_WARNING, KernelLog
from .sched import Sched, Task, attach_cpu_view, switch_to
from .trace import KmemTrace
from .vmscan import Vmscan, balance_pgdat, try_to_free_pages
from .vmstat import VmStat, count_vm_event, nr_slab_pages

# Besides what it defines, the module re-exports the zone types.
__all__ = ["ZONE_DMA", "ZONE_HIGHMEM", "ZONE_NORMAL"]

MAX_ORDER: Final = 11
MAX_NR_ZONES: Final = 3
# mm/page_alloc.c: sysctl_lowmem_reserve_ratio for DMA and Normal.
LOWMEM_RESERVE_RATIO: Final = (256, 32)
SWAP_CLUSTER_MAX: Final = 32
# min_free_kbytes bounds (init_per_zone_pages_min)
MIN_FREE_KBYTES_MIN, MIN_FREE_KBYTES_MAX = 128, 65536
# zone_batchsize: a per-CPU batch is at most half a megabyte
PCP_BATCH_MAX_BYTES: Final = 512 * 1024

# __alloc_pages alloc_flags (mm/page_alloc.c, 2.6.18)
ALLOC_NO_WATERMARKS: Final = 0x01
ALLOC_WMARK_MIN: Final = 0x02
ALLOC_WMARK_LOW: Final = 0x04
ALLOC_WMARK_HIGH: Final = 0x08
ALLOC_HARDER: Final = 0x10
ALLOC_HIGH: Final = 0x20

ZONE_STATS: Final = ("pgalloc", "pgfree", "numa_hit", "numa_miss", "numa_foreign", "local_node",
              "other_node", "pgalloc_hot", "pgalloc_cold")


class SlabCacheRef(Protocol):
    """What the page allocator knows of a slab cache that owns frames."""
    name: str
    gfporder: int
    kmalloc: bool


# an interpreted subclass: linux618/slub.py's Slab (6.18's SLUB stays pure, setup.py)
@mypyc_attr(allow_interpreted_subclasses=True)
class PageOwner:
    """What a page frame belongs to (the frame is free when its owner is None).

    Tags such as PAGES or RESERVED are PageOwners; a slab (slab.Slab) is one
    too, with its cache and head pfn set, which lets the free path tell slab
    pages apart with one attribute test."""
    __slots__ = ("cache", "name", "pfn")

    def __init__(self, name: str, cache: SlabCacheRef | None = None):
        self.name = name
        self.cache = cache
        self.pfn = 0

    def __repr__(self) -> str:
        return self.name


FREE: Final = None                       # in a buddy free list
PCP: Final = PageOwner("pcp")            # free, parked on a per-CPU list
RESERVED: Final = PageOwner("reserved")  # boot-time reservation, never freed
HOLE: Final = PageOwner("hole")          # no RAM behind the frame (e820 hole)
PAGES: Final = PageOwner("pages")        # alloc_pages / __get_free_pages user


class ZoneStats(Counters):
    """A zone's counters (ZONE_STATS), see counters.py."""
    NAMES = ZONE_STATS
    __slots__ = ("pgalloc", "pgfree", "numa_hit", "numa_miss", "numa_foreign", "local_node",
                 "other_node", "pgalloc_hot", "pgalloc_cold")   # ZONE_STATS

    def __init__(self) -> None:
        self.pgalloc = self.pgfree = self.numa_hit = self.numa_miss = self.numa_foreign = 0
        self.local_node = self.other_node = self.pgalloc_hot = self.pgalloc_cold = 0


@dataclass(slots=True)
class PerCpuPages:
    """One per-CPU page list (2.6.18 struct per_cpu_pages)."""
    high: int
    batch: int
    pages: list[int] = field(default_factory=list)  # the end of the list is its head


@dataclass(eq=False)
class Zone:
    node: Node
    idx: int
    start_pfn: int
    spanned: int
    name: str = ""
    present: int = 0
    managed: int = 0
    free_pages: int = 0
    pages_min: int = 0
    pages_low: int = 0
    pages_high: int = 0
    lowmem_reserve: list[int] = field(default_factory=lambda: [0] * MAX_NR_ZONES)
    all_unreclaimable: bool = False   # set by kswapd, cleared by a free to the buddy lists
    pages_scanned: int = 0            # LRU pages scanned since the last free (none here)
    free_area: list[dict[int, None]] = field(default_factory=lambda: [{} for _ in range(MAX_ORDER)])
    pcp: list[tuple[PerCpuPages, PerCpuPages]] = field(default_factory=list)  # [cpu] -> (hot, cold)
    # the same lists flat, [2 * cpu + cold], for the hot paths: indexing a list of
    # tuples by a variable boxes the tuple again (compiled) on every allocation
    pcp_lists: list[PerCpuPages] = field(default_factory=list)
    stats: ZoneStats = field(default_factory=ZoneStats)

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.spanned

    @property
    def is_highmem(self) -> bool:
        return self.idx == ZONE_HIGHMEM

    def nr_free(self, order: int) -> int:
        return len(self.free_area[order])

    def pcp_count(self) -> int:
        return sum(len(hot.pages) + len(cold.pages) for hot, cold in self.pcp)

    def __repr__(self) -> str:
        return f"<Zone node{self.node.id} {self.name} pfn {self.start_pfn}+{self.spanned}>"


@dataclass(eq=False)
class Node:
    id: int
    start_pfn: int
    spanned: int
    zones: list[Zone] = field(default_factory=list)  # populated zones, lowest first
    cpus: list[int] = field(default_factory=list)
    zonelists: dict[int, list[Zone]] = field(default_factory=dict)  # highest zone idx -> [Zone]
    zonelist_by_idx: list[list[Zone]] = field(default_factory=list)  # zonelists as a list
    mem_map_pfn: int = 0   # where boot placed this node's struct page array
    kswapd_max_order: int = 0        # pgdat->kswapd_max_order
    kswapd_woken: bool = False       # wakeup_kswapd woke it; kswapd_run runs balance_pgdat
    kswapd: Task | None = None       # the kswapd<N> kernel thread


class PageAllocator:
    """The page allocator's state: frames, nodes, zones, watermarks."""

    def __init__(self, arch: Arch, mem: PhysMem, log: KernelLog, sched: Sched, vmstat: VmStat,
                 faults: FaultInject, trace: KmemTrace, vmscan: Vmscan, nr_nodes: int):
        self.arch = arch
        self.mem = mem
        self.log = log
        self.sched = sched
        self.vmstat = vmstat
        self.vm_events = vmstat.events
        self.faults = faults
        self.trace = trace
        self.vmscan = vmscan
        self.page_shift = arch.page_shift
        self.nr_pages = mem.size >> arch.page_shift
        self.mem_map: list[PageOwner | None] = [HOLE] * self.nr_pages  # owner of every frame
        self.alloc_order: dict[int, int] = {}   # head pfn of an allocated block -> order
        self.nodes: list[Node] = []
        self.zones: list[Zone] = []
        nr_cpus = sched.nr_cpus
        self.cpu_node = [(c * nr_nodes // nr_cpus) if nr_cpus >= nr_nodes else (c % nr_nodes)
                         for c in range(nr_cpus)]
        self.zone_starts: list[int] = []        # start pfn of every zone, ascending
        self.zones_by_pfn: list[Zone] = []      # the zones in that order
        # [node][gfp & GFP_ZONEMASK]: the preferred zone, for the
        # order-0 fast path (gfp_zone: DMA wins over HIGHMEM)
        self.preferred: list[list[Zone | None]] = []
        self.numa = nr_nodes > 1                # CONFIG_NUMA: only when booted with nodes > 1
        self.kswapd_wake: Callable[[int], None] | None = None  # told the node id kswapd is woken for
        self.pending_trace: str | None = None   # dump_stack of the allocation now asleep
        self.min_free_kbytes = 0
        self.totalram_pages = 0
        self.totalhigh_pages = 0
        # set while fault injection or tracing is on: the fast path steps aside
        self.slow = False
        self.current = sched.current            # the CpuView sched keeps up to date
        self.free_waiters: Callable[[], None] | None = None
        attach_cpu_view(sched, self)
        free_area_init(self, nr_nodes)
        for node in self.nodes:
            node.kswapd = Task(-1 - node.id, node.cpus[0] if node.cpus else 0, f"kswapd{node.id}")
            node.kswapd.kthread = True


# -- boot -------------------------------------------------------------------


def zone_batchsize(present: int, page_size: int) -> int:
    """mm/page_alloc.c zone_batchsize (2.6.18)."""
    batch = present // 1024
    if batch * page_size > PCP_BATCH_MAX_BYTES:
        batch = PCP_BATCH_MAX_BYTES // page_size
    batch //= 4
    batch = max(batch, 1)
    return (1 << ((batch + batch // 2).bit_length() - 1)) - 1


def free_area_init(pa: PageAllocator, nr_nodes: int) -> None:
    """Nodes and zones as the architecture lays them out, boot reservations,
    the buddy lists, per-CPU lists, zonelists and watermarks."""
    arch, shift = pa.arch, pa.page_shift
    per_node = pa.nr_pages // nr_nodes
    for nid in range(nr_nodes):
        start = nid * per_node
        span = per_node if nid < nr_nodes - 1 else pa.nr_pages - start
        node = Node(nid, start, span)
        node.cpus = [c for c in range(pa.sched.nr_cpus) if pa.cpu_node[c] == nid]
        for idx, zspan in enumerate(arch.zones):
            lo = zspan.lo
            if arch.dma_zone_on_node0_only:
                # ZONE_DMA only exists on node 0: another node's frames below
                # 16 MiB (a small machine split in two) belong to its Normal zone.
                if idx == ZONE_DMA and nid != 0:
                    continue
                if idx == ZONE_NORMAL and nid != 0:
                    lo = 0
            zlo = max(start, lo >> shift)
            zhi = min(start + span, zspan.hi >> shift)
            if zhi <= zlo:
                continue
            zone = Zone(node, idx, zlo, zhi - zlo, zspan.name)
            node.zones.append(zone)
            pa.zones.append(zone)
        pa.nodes.append(node)
    reserve_boot_memory(pa)
    for zone in pa.zones:
        batch = zone_batchsize(zone.present, arch.page_size)
        zone.pcp = [(PerCpuPages(6 * batch, max(1, batch)),
                     PerCpuPages(2 * batch, max(1, batch // 2))) for _ in range(pa.sched.nr_cpus)]
        zone.pcp_lists = [pcp for pair in zone.pcp for pcp in pair]
    build_zonelists(pa)
    for node in pa.nodes:
        node.zonelist_by_idx = [node.zonelists[top] for top in range(MAX_NR_ZONES)]
    zones_by_pfn = sorted(pa.zones, key=lambda z: z.start_pfn)
    pa.zone_starts = [z.start_pfn for z in zones_by_pfn]
    pa.zones_by_pfn = zones_by_pfn
    pa.preferred = [[n.zonelists[t][0] if n.zonelists[t] else None
                     for t in (ZONE_NORMAL, ZONE_DMA, ZONE_HIGHMEM, ZONE_DMA)] for n in pa.nodes]
    pa.min_free_kbytes = default_min_free_kbytes(pa)
    setup_per_zone_pages_min(pa)
    setup_per_zone_lowmem_reserve(pa)
    pa.totalram_pages = sum(z.managed for z in pa.zones)
    pa.totalhigh_pages = sum(z.managed for z in pa.zones if z.is_highmem)


def mem_map_placement(pa: PageAllocator, node: Node) -> tuple[int, int]:
    """(first pfn, pages) of a node's struct page array. Node 0's is placed at
    16 MiB when Normal exists, as bootmem's goal of MAX_DMA_ADDRESS does, else
    just above the BIOS hole; another node's at its own start."""
    map_pages = -(-node.spanned * pa.arch.sizeof_struct_page // pa.arch.page_size)
    if node.id != 0:
        return node.start_pfn, map_pages
    dma_end = pa.arch.zones[ZONE_DMA].hi >> pa.page_shift
    base = dma_end if node.spanned > dma_end + map_pages else pa.arch.bios_hole[1] >> pa.page_shift
    return base, map_pages


def reserve_boot_memory(pa: PageAllocator) -> None:
    """Lay out what a PC reserves before the buddy allocator starts: pfn 0
    (BIOS data) and the mem_map arrays are reserved, the e820 hole has no RAM
    behind it. Everything else is handed to the buddy allocator in maximal blocks.

    Present pages: i386 zone_sizes_init (arch/i386/kernel/setup.c, 2.6.18)
    calls free_area_init(zones_size) with no holes, so a zone's present pages
    are its spanned pages; the 640K-1M hole's frames are PageReserved
    (mem_init), not absent: ZONE_DMA is 4096 pages present."""
    shift = pa.page_shift
    hole = (pa.arch.bios_hole[0] >> shift, pa.arch.bios_hole[1] >> shift)
    taken: list[tuple[int, int, PageOwner]] = [(0, 1, RESERVED), (hole[0], hole[1], HOLE)]
    for node in pa.nodes:
        base, map_pages = mem_map_placement(pa, node)
        node.mem_map_pfn = base
        taken.append((base, min(base + map_pages, node.start_pfn + node.spanned), RESERVED))
    mem_map = pa.mem_map
    for zone in pa.zones:
        lo, hi = zone.start_pfn, zone.end_pfn
        mem_map[lo:hi] = [FREE] * (hi - lo)
        zone.present = zone.spanned
        cuts = []
        for a, b, what in sorted(taken, key=lambda t: t[0]):
            a, b = max(a, lo), min(b, hi)
            if a >= b:
                continue
            mem_map[a:b] = [what] * (b - a)
            cuts.append((a, b))
        pfn = lo
        for a, b in cuts + [(hi, hi)]:
            free_range_to_buddy(zone, pfn, a)
            pfn = max(pfn, b)


def free_range_to_buddy(zone: Zone, pfn: int, end: int) -> None:
    while pfn < end:
        order = MAX_ORDER - 1
        while order and (pfn & ((1 << order) - 1) or pfn + (1 << order) > end):
            order -= 1
        zone.free_area[order][pfn] = None
        zone.free_pages += 1 << order
        zone.managed += 1 << order
        pfn += 1 << order


LOCAL_DISTANCE, REMOTE_DISTANCE = 10, 20   # include/linux/topology.h node_distance
PENALTY_FOR_NODE_WITH_CPUS: Final = 1             # mm/page_alloc.c


def find_next_best_node(pa: PageAllocator, node: int, used: set[int], node_load: list[int]) -> int:
    """mm/page_alloc.c find_next_best_node (2.6.18, CONFIG_NUMA). node_distance
    is the generic LOCAL_DISTANCE/REMOTE_DISTANCE (i386 has no SLIT table)."""
    if node not in used:
        used.add(node)
        return node
    nr = len(pa.nodes)
    min_val, best = None, -1
    for n in range(nr):
        if n in used:
            continue
        val = LOCAL_DISTANCE if n == node else REMOTE_DISTANCE
        val += n < node
        if pa.nodes[n].cpus:
            val += PENALTY_FOR_NODE_WITH_CPUS
        val *= nr * MAX_NUMNODES
        val += node_load[n]
        if min_val is None or val < min_val:
            min_val, best = val, n
    if best >= 0:
        used.add(best)
    return best


MAX_NUMNODES: Final = 64   # i386 NUMA: NODES_SHIFT 6


def build_zonelists(pa: PageAllocator) -> None:
    """mm/page_alloc.c build_zonelists (2.6.18). Non-NUMA: the local node's
    zones high to low, then nodes N+1.. and 0..N-1. NUMA: nodes in
    find_next_best_node order, node_load (static across the calls, one per
    node in node order) making equally distant nodes round robin."""
    if not pa.numa:
        for node in pa.nodes:
            order = [node]
            for top in range(MAX_NR_ZONES):
                node.zonelists[top] = [z for n in order for z in reversed(n.zones) if z.idx <= top]
        return
    node_load = [0] * len(pa.nodes)
    for local in pa.nodes:
        local_node = local.id
        load = len(pa.nodes)
        prev_node = local_node
        used: set[int] = set()
        order = []
        while (nid := find_next_best_node(pa, local_node, used, node_load)) >= 0:
            distance = LOCAL_DISTANCE if nid == local_node else REMOTE_DISTANCE
            if distance != (LOCAL_DISTANCE if prev_node == local_node else REMOTE_DISTANCE):
                node_load[nid] += load
            prev_node = nid
            load -= 1
            order.append(pa.nodes[nid])
        for top in range(MAX_NR_ZONES):
            local.zonelists[top] = [z for n in order for z in reversed(n.zones) if z.idx <= top]


def default_min_free_kbytes(pa: PageAllocator) -> int:
    """init_per_zone_pages_min: lowmem_kbytes is nr_free_buffer_pages(), which
    at boot (pages_high still 0) sums the lowmem zones' present pages."""
    lowmem_kbytes = sum(z.present for z in pa.zones if not z.is_highmem) * (pa.arch.page_size >> 10)
    return max(MIN_FREE_KBYTES_MIN, min(MIN_FREE_KBYTES_MAX, math.isqrt(lowmem_kbytes * 16)))


def setup_per_zone_pages_min(pa: PageAllocator) -> None:
    """Watermarks from min_free_kbytes (2.6 setup_per_zone_pages_min)."""
    pages_min = pa.min_free_kbytes >> (pa.page_shift - 10)
    lowmem_pages = sum(z.present for z in pa.zones if not z.is_highmem) or 1
    for zone in pa.zones:
        tmp = pages_min * zone.present // lowmem_pages
        if zone.is_highmem:
            zone.pages_min = max(SWAP_CLUSTER_MAX, min(128, zone.present // 1024))
        else:
            zone.pages_min = tmp
        zone.pages_low = zone.pages_min + (tmp >> 2)
        zone.pages_high = zone.pages_min + (tmp >> 1)


def setup_per_zone_lowmem_reserve(pa: PageAllocator) -> None:
    """lowmem_reserve[] (2.6 setup_per_zone_lowmem_reserve): what a lower zone
    keeps back from allocations that could have used a higher zone."""
    for node in pa.nodes:
        by_idx = {z.idx: z for z in node.zones}
        for z in node.zones:
            z.lowmem_reserve = [0] * MAX_NR_ZONES
        for j in range(MAX_NR_ZONES):
            present = by_idx[j].present if j in by_idx else 0
            for idx in range(j - 1, -1, -1):
                lower = by_idx.get(idx)
                if lower is None:
                    continue
                lower.lowmem_reserve[j] = present // LOWMEM_RESERVE_RATIO[idx]
                present += lower.present


def set_min_free_kbytes(pa: PageAllocator, value: int) -> None:
    """proc/sys/vm/min_free_kbytes write: recompute every watermark."""
    pa.min_free_kbytes = value
    setup_per_zone_pages_min(pa)


# -- queries ----------------------------------------------------------------


def nr_free_pages(pa: PageAllocator) -> int:
    return sum(z.free_pages for z in pa.zones)


def page_zone(pa: PageAllocator, pfn: int) -> Zone:
    """The zone of a pfn; ValueError for a pfn in no zone."""
    zone = pa.zones_by_pfn[bisect_right(pa.zone_starts, pfn) - 1]
    if not zone.start_pfn <= pfn < zone.start_pfn + zone.spanned:
        raise ValueError(f"pfn {pfn:#x} is in no zone")
    return zone


def pfn_zone(pa: PageAllocator, pfn: int) -> Zone:
    """zones_by_pfn[bisect_right(zone_starts, pfn) - 1] for a pfn of the
    machine (the hot paths: a few native compares instead of a call)."""
    starts = pa.zone_starts
    i = len(starts) - 1
    while i > 0 and starts[i] > pfn:
        i -= 1
    if i == 0 and starts[0] > pfn:
        i = -1
    return pa.zones_by_pfn[i]


def page_owner(pa: PageAllocator, pfn: int) -> PageOwner | None:
    """Who owns frame pfn (None: free in the buddy lists, or no such frame)."""
    return pa.mem_map[pfn] if 0 <= pfn < pa.nr_pages else None


def page_block_order(pa: PageAllocator, pfn: int) -> int | None:
    """The order of the alloc_pages block that starts at pfn, or None."""
    return pa.alloc_order.get(pfn)


def struct_page_address(pa: PageAllocator, pfn: int) -> int:
    """The kernel virtual address of pfn's struct page: each node's mem_map
    array sits where boot reserved it (reserve_boot_memory)."""
    node = pa.nodes[0]
    for n in pa.nodes:
        if n.start_pfn <= pfn < n.start_pfn + n.spanned:
            node = n
            break
    arch = pa.arch
    return (arch.page_offset + (node.mem_map_pfn << pa.page_shift)
            + (pfn - node.start_pfn) * arch.sizeof_struct_page) & arch.address_mask


# -- allocation -------------------------------------------------------------


def zone_watermark_ok(zone: Zone, order: int, mark: int, classzone_idx: int, alloc_flags: int) -> bool:
    """mm/page_alloc.c zone_watermark_ok (2.6.18)."""
    free = zone.free_pages - (1 << order) + 1
    min_ = mark
    if alloc_flags & ALLOC_HIGH:
        min_ -= min_ // 2
    if alloc_flags & ALLOC_HARDER:
        min_ -= min_ // 4
    if free <= min_ + zone.lowmem_reserve[classzone_idx]:
        return False
    area = zone.free_area
    for o in range(order):
        free -= len(area[o]) << o
        min_ >>= 1
        if free <= min_:
            return False
    return True


def get_page_from_freelist(pa: PageAllocator, gfp_mask: int, order: int, zonelist: list[Zone],
                           alloc_flags: int, cpu: int) -> int | None:
    classzone_idx = zonelist[0].idx
    for zone in zonelist:
        if not alloc_flags & ALLOC_NO_WATERMARKS:
            if alloc_flags & ALLOC_WMARK_MIN:
                mark = zone.pages_min
            elif alloc_flags & ALLOC_WMARK_LOW:
                mark = zone.pages_low
            else:
                mark = zone.pages_high
            if not zone_watermark_ok(zone, order, mark, classzone_idx, alloc_flags):
                continue
        pfn = buffered_rmqueue(pa, zone, order, gfp_mask, cpu)
        if pfn is not None:
            if pa.numa:
                zone_statistics(pa, zonelist[0], zone)
            return pfn
    return None


def zone_statistics(pa: PageAllocator, preferred: Zone, zone: Zone) -> None:
    """NUMA counters as 2.6.18 zone_statistics (CONFIG_NUMA only: a kernel
    booted with one node here is not a NUMA kernel). The keys local_node and
    other_node are 2.6.18's numa_local and numa_other."""
    st = zone.stats
    if zone.node is preferred.node:
        st.numa_hit += 1
    else:
        st.numa_miss += 1
        preferred.stats.numa_foreign += 1
    if zone.node.id == pa.cpu_node[pa.current.cpu]:
        st.local_node += 1
    else:
        st.other_node += 1


def buffered_rmqueue(pa: PageAllocator, zone: Zone, order: int, gfp_mask: int, cpu: int) -> int | None:
    if order == 0:
        cold = 1 if gfp_mask & __GFP_COLD else 0
        pcp = zone.pcp_lists[2 * cpu + cold]
        pages = pcp.pages
        if not pages:
            rmqueue_bulk(pa, zone, pcp.batch, pages)
            if not pages:
                return None
        pfn = pages.pop()
        if cold:
            zone.stats.pgalloc_cold += 1
        else:
            zone.stats.pgalloc_hot += 1
    else:
        got = __rmqueue(zone, order)
        if got is None:
            return None
        pfn = got
    zone.stats.pgalloc += 1 << order
    return pfn


def __rmqueue(zone: Zone, order: int) -> int | None:
    """Take a block of `order`, splitting a larger one (expand)."""
    area = zone.free_area
    for current in range(order, MAX_ORDER):
        free_list = area[current]
        if free_list:
            pfn, _ = free_list.popitem()
            zone.free_pages -= 1 << order
            while current > order:
                current -= 1
                area[current][pfn + (1 << current)] = None
            return pfn
    return None


def rmqueue_bulk(pa: PageAllocator, zone: Zone, count: int, pages: list[int]) -> None:
    mem_map = pa.mem_map
    for _ in range(count):
        pfn = __rmqueue(zone, 0)
        if pfn is None:
            break
        mem_map[pfn] = PCP
        pages.insert(0, pfn)  # list_add_tail: the first page taken is used first


def alloc_pages(pa: PageAllocator, gfp_mask: int, order: int, node_id: int | None = None,
                owner: PageOwner = PAGES) -> int | None:
    """Allocate 2**order contiguous frames; return the head pfn or None.

    Never blocks: where 2.6.18's __alloc_pages would sleep and go again, a
    caller that may sleep gets None with sched.sleep_request and
    sched.alloc_next set (see __alloc_pages). `owner` is what the frames record."""
    if order == 0 and not pa.slow:
        # The common case in one piece: the preferred zone is above its low
        # watermark (for its own zone type lowmem_reserve is 0) and the
        # CPU's list has a page. Anything else takes the general path.
        current = pa.current
        cpu = current.cpu
        zone = pa.preferred[pa.cpu_node[cpu] if node_id is None else node_id][gfp_mask & GFP_ZONEMASK]
        if zone is not None and zone.free_pages > zone.pages_low and not current.killed:
            cold = gfp_mask & __GFP_COLD
            pcp = zone.pcp_lists[2 * cpu + 1 if cold else 2 * cpu]
            pages = pcp.pages
            if not pages:
                rmqueue_bulk(pa, zone, pcp.batch, pages)
            if pages:
                pfn = pages.pop()
                st = zone.stats
                st.pgalloc += 1
                if cold:
                    st.pgalloc_cold += 1
                else:
                    st.pgalloc_hot += 1
                if pa.numa:
                    st.numa_hit += 1
                    if zone.node.id == pa.cpu_node[cpu]:
                        st.local_node += 1
                    else:
                        st.other_node += 1
                pa.mem_map[pfn] = owner
                if owner.cache is None:  # a slab knows its own order
                    pa.alloc_order[pfn] = 0
                current.total_vm += 1
                if gfp_mask & __GFP_ZERO:
                    pa.mem.zero(pfn << pa.page_shift, 1 << pa.page_shift)
                return pfn
    return __alloc_pages(pa, gfp_mask, order, node_id, owner)


def __alloc_pages(pa: PageAllocator, gfp_mask: int, order: int, node_id: int | None,
                  owner: PageOwner) -> int | None:
    """mm/page_alloc.c alloc_pages_node + __alloc_pages (2.6.18); fault
    injection (2.6.20's fail_page_alloc) first."""
    if order >= MAX_ORDER:
        return None
    # pa.slow is set whenever fault injection is armed or a trace hook is set
    # (Kernel.update_fault_injection): otherwise neither is read
    slow = pa.slow
    if slow and pa.faults.fail_page_alloc_armed and should_fail_alloc_page(pa.faults, gfp_mask, order):
        return None
    cpu = pa.current.cpu
    if node_id is None:
        node_id = pa.cpu_node[cpu]
    zonelist = pa.nodes[node_id].zonelist_by_idx[gfp_zone(gfp_mask)]
    if not zonelist:
        return None              # "Should this ever happen??": NULL, no report
    pfn = __alloc_pages_loop(pa, gfp_mask, order, zonelist, cpu)
    if pfn is None:
        return None
    mem_map = pa.mem_map
    for i in range(pfn, pfn + (1 << order)):
        mem_map[i] = owner
    if owner.cache is None:
        pa.alloc_order[pfn] = order
    pa.current.total_vm += 1 << order
    if gfp_mask & __GFP_ZERO:
        pa.mem.zero(pfn << pa.page_shift, 1 << (pa.page_shift + order))
    if slow:
        hook = pa.trace.hook
        if hook is not None:
            hook("mm_page_alloc", None, pfn, gfp_mask, order)
    return pfn


def __alloc_pages_loop(pa: PageAllocator, gfp_mask: int, order: int, zonelist: list[Zone],
                       cpu: int) -> int | None:
    """The body of 2.6.18 __alloc_pages, label for label. Where 2.6.18 sleeps
    and goes back (blk_congestion_wait then `goto rebalance`; out_of_memory
    then `goto restart`; an OOM victim's __GFP_NOFAIL `goto nofail_alloc`),
    the allocator does not block: a caller that may sleep (sched.sleep_ok)
    gets None with sleep_request = (gfp_mask, order) and alloc_next = "retry",
    "oom" or "nofail", sleeps and calls again (the next call is the `goto`);
    any other caller fails there with the page allocation failure report
    (docs/deviations.md). The report is printed only by nopage (or by
    warn_alloc_failure when the caller's wait ends)."""
    wait = gfp_mask & __GFP_WAIT
    p = pa.current
    if p.killed:
        if not p.memdie:
            return None          # dead (SIGKILL from the OOM killer): no more allocations
        return nofail_alloc(pa, gfp_mask, order, zonelist, cpu)   # a __GFP_NOFAIL victim's retry
    restarted = False
    while True:
        # restart:
        pfn = get_page_from_freelist(pa, gfp_mask | __GFP_HARDWALL, order, zonelist, ALLOC_WMARK_LOW, cpu)
        if pfn is not None:
            return pfn
        for z in zonelist:
            wakeup_kswapd(pa, z, order)
        alloc_flags = ALLOC_WMARK_MIN
        if not wait:
            alloc_flags |= ALLOC_HARDER
        if gfp_mask & __GFP_HIGH:
            alloc_flags |= ALLOC_HIGH
        pfn = get_page_from_freelist(pa, gfp_mask, order, zonelist, alloc_flags, cpu)
        if pfn is not None:
            return pfn
        # PF_MEMALLOC (kswapd, direct reclaim: they allocate nothing here) or TIF_MEMDIE
        if p.memdie:
            if not gfp_mask & __GFP_NOMEMALLOC:
                return nofail_alloc(pa, gfp_mask, order, zonelist, cpu)
            p.memdie = False
            return nopage(pa, gfp_mask, order)
        if not wait:                     # atomic allocations: we can't balance anything
            return nopage(pa, gfp_mask, order)
        while True:
            # rebalance:
            did_some_progress = try_to_free_pages(pa.vmscan, gfp_mask)
            if did_some_progress:
                pfn = get_page_from_freelist(pa, gfp_mask, order, zonelist, alloc_flags, cpu)
                if pfn is not None:
                    return pfn
            elif gfp_mask & __GFP_FS and not gfp_mask & __GFP_NORETRY:
                # a very high watermark, only to catch a parallel OOM kill
                pfn = get_page_from_freelist(pa, gfp_mask | __GFP_HARDWALL, order, zonelist,
                                             ALLOC_WMARK_HIGH, cpu)
                if pfn is not None:
                    return pfn
                out_of_memory(pa, zonelist, gfp_mask, order)
                if p.memdie and not restarted:
                    restarted = True     # current is the victim: goto restart at once
                    break
                return sleep_and_retry(pa, gfp_mask, order, "oom")
            # __GFP_REPEAT means __GFP_NOFAIL for order <= 3 ("in this implementation")
            do_retry = False
            if not gfp_mask & __GFP_NORETRY:
                if order <= 3 or gfp_mask & __GFP_REPEAT:
                    do_retry = True
                if gfp_mask & __GFP_NOFAIL:
                    do_retry = True
            if not do_retry:
                return nopage(pa, gfp_mask, order)
            if not did_some_progress:
                return sleep_and_retry(pa, gfp_mask, order, "retry")
            # progress but no page: blk_congestion_wait(WRITE, HZ/50), goto rebalance


def nofail_alloc(pa: PageAllocator, gfp_mask: int, order: int, zonelist: list[Zone],
                 cpu: int) -> int | None:
    """`nofail_alloc:` of __alloc_pages (TIF_MEMDIE): go through the zonelist
    yet again, ignoring mins; __GFP_NOFAIL waits and goes again. The victim
    is dead after this allocation (oom_kill.py)."""
    p = pa.current
    pfn = get_page_from_freelist(pa, gfp_mask, order, zonelist, ALLOC_NO_WATERMARKS, cpu)
    if pfn is not None:
        p.memdie = False
        return pfn
    if gfp_mask & __GFP_NOFAIL:
        return sleep_and_retry(pa, gfp_mask, order, "nofail")
    p.memdie = False
    return nopage(pa, gfp_mask, order)


def sleep_and_retry(pa: PageAllocator, gfp_mask: int, order: int, what: str) -> int | None:
    """2.6.18 sleeps here and goes again (alloc_next says how). A caller that
    may sleep is told to; anyone else fails now with the failure report."""
    sched = pa.sched
    sched.alloc_next = what
    if sched.sleep_ok:
        sched.sleep_request = (gfp_mask, order)
        # the stack to show if the caller's wait ends in warn_alloc_failure
        pa.pending_trace = dump_stack(pa) if not gfp_mask & __GFP_NOWARN else None
        return None
    return nopage(pa, gfp_mask, order)


def nopage(pa: PageAllocator, gfp_mask: int, order: int) -> int | None:
    """`nopage:` of __alloc_pages: the failure report, returns NULL."""
    pa.pending_trace = None
    warn_alloc_failure(pa, gfp_mask, order)
    return None


def warn_alloc_failure(pa: PageAllocator, gfp_mask: int, order: int) -> None:
    """mm/page_alloc.c __alloc_pages `nopage:` (2.6.18): without __GFP_NOWARN
    and within printk_ratelimit, the warning, dump_stack() and show_mem().
    Called by the mount when a sleeping allocation's wait ends, it shows the
    stack the allocation had when it went to sleep. Counts pgalloc_fail (not
    a 2.6.18 counter)."""
    count_vm_event(pa.vmstat, "pgalloc_fail")
    trace, pa.pending_trace = pa.pending_trace, None
    if not gfp_mask & __GFP_NOWARN and pa.log.ratelimit():
        pa.log.printk(KERN_WARNING, f"{pa.current.comm}: page allocation failure."
                                    f" order:{order}, mode:0x{gfp_mask:x}")
        pa.log.printk(KERN_WARNING, trace if trace is not None else dump_stack(pa))
        printk_show_mem(pa)


def out_of_memory(pa: PageAllocator, zonelist: list[Zone], gfp_mask: int, order: int) -> None:
    """mm/oom_kill.c out_of_memory with constrained_alloc (CONFIG_NUMA: the
    zonelist leaves out an online node, as a lowmem zonelist leaves out an
    i386 HighMem-only node: CONSTRAINT_MEMORY_POLICY, current is killed)."""
    constrained = False
    if pa.numa:
        nodes = {n.id for n in pa.nodes} - {z.node.id for z in zonelist}
        constrained = bool(nodes)

    def report() -> None:
        pa.log.printk(KERN_WARNING, dump_stack(pa))
        printk_show_mem(pa)
    oom_kill.out_of_memory(pa.sched, pa.log, gfp_mask, order, constrained, report)


def BUG(log: KernelLog, current: Task, line: int, file: str) -> None:
    """BUG() as i386 reports it (arch/i386/kernel/traps.c handle_BUG, then the
    head of die()'s oops); the simulated task is not killed: the caller fails
    the operation instead (docs/deviations.md)."""
    die_counter = sum(1 for r in log.records if r.text.startswith("invalid opcode: ")) + 1
    log.printk(KERN_EMERG, "------------[ cut here ]------------\n"
                           f"kernel BUG at {file}:{line}!\n"
                           f"invalid opcode: 0000 [#{die_counter}]\n"
                           "SMP \n"
                           f"CPU:    {current.cpu}\n"
                           f"Process {current.comm[:16]} (pid: {current.pid})")


def __get_free_pages(pa: PageAllocator, gfp_mask: int, order: int) -> int | None:
    """mm/page_alloc.c __get_free_pages (2.6.18): page_address() of the pages,
    or None. __GFP_HIGHMEM is not refused: a HighMem page has no address
    (page_address is NULL), so the caller gets None and the pages stay
    allocated, as in 2.6.18."""
    pfn = alloc_pages(pa, gfp_mask, order)
    if pfn is None or page_zone(pa, pfn).is_highmem:
        return None
    return pfn << pa.page_shift


def get_zeroed_page(pa: PageAllocator, gfp_mask: int) -> int | None:
    """mm/page_alloc.c get_zeroed_page: BUG_ON((gfp_mask & __GFP_HIGHMEM) != 0)."""
    if gfp_mask & __GFP_HIGHMEM:
        BUG(pa.log, pa.current, 1086, "mm/page_alloc.c")
        return None
    return __get_free_pages(pa, gfp_mask | __GFP_ZERO, 0)


# -- kswapd (mm/vmscan.c) ------------------------------------------------------


def wakeup_kswapd(pa: PageAllocator, zone: Zone, order: int) -> None:
    """mm/vmscan.c wakeup_kswapd (2.6.18): a zone below its low watermark
    wakes its node's kswapd, remembering the largest order asked for."""
    if not zone.present:
        return
    if zone_watermark_ok(zone, order, zone.pages_low, 0, 0):
        return
    node = zone.node
    node.kswapd_max_order = max(node.kswapd_max_order, order)
    if node.kswapd_woken:
        return                       # !waitqueue_active: it is awake already
    node.kswapd_woken = True
    if pa.kswapd_wake is not None:
        pa.kswapd_wake(node.id)


def kswapd_run(pa: PageAllocator) -> int:
    """One turn of each woken kswapd's loop (mm/vmscan.c kswapd): take
    kswapd_max_order and run balance_pgdat as the kswapd<N> thread. A node
    not yet balanced stays woken (2.6.18 loops at once: the caller, the
    mount's background task, calls again soon). Returns the pages reclaimed."""
    total = 0
    sched = pa.sched
    for node in pa.nodes:
        if not node.kswapd_woken or node.kswapd is None:
            continue
        order = node.kswapd_max_order
        node.kswapd_max_order = 0
        saved = sched.current
        switch_to(sched, node.kswapd)
        try:
            reclaimed, balanced = balance_pgdat(pa.vmscan, node, order, zone_watermark_ok)
        finally:
            switch_to(sched, saved)
        total += reclaimed
        node.kswapd_woken = not balanced or node.kswapd_max_order > order
    return total


# -- freeing ----------------------------------------------------------------


def __free_pages(pa: PageAllocator, pfn: int, order: int, slab_pages: bool = False) -> bool:
    """Give a block back. A block that is not allocated, is freed with another
    order than it was allocated with, or belongs to a slab (unless the slab
    allocator frees it) is a logged "Bad page state" and is left alone.
    Returns True if freed."""
    mem_map = pa.mem_map
    if not 0 <= pfn < pa.nr_pages:
        return bad_page(pa, pfn, order, None)
    if slab_pages:
        # slab pages are not in alloc_order: the Slab owning them is the record
        owner = mem_map[pfn]
        if owner is None or owner.cache is None or owner.pfn != pfn or owner.cache.gfporder != order:
            return bad_page(pa, pfn, order, None)
    else:
        # alloc_order.pop(pfn, None), with the dict operations mypyc has natively
        alloc_order = pa.alloc_order
        key: Any = pfn               # one int object for both dict operations
        got = alloc_order.get(key)
        if got is None or got != order:
            if got is not None:
                del alloc_order[key]   # bad_page puts it back (at the end, as pop did)
            return bad_page(pa, pfn, order, got)
        del alloc_order[key]
    if pa.slow:                  # a trace hook is set only with pa.slow (__alloc_pages)
        hook = pa.trace.hook
        if hook is not None:
            hook("mm_page_free", None, pfn, 0, order)
    zone = pfn_zone(pa, pfn)
    nr = 1 << order
    zone.stats.pgfree += nr
    pa.vmstat.pgfree_delta += nr     # __count_vm_events(PGFREE, 1 << order): see VmStat
    current = pa.current
    total_vm = current.total_vm - nr
    current.total_vm = total_vm if total_vm > 0 else 0
    if order == 0:
        hot = zone.pcp_lists[2 * current.cpu]
        mem_map[pfn] = PCP
        pages = hot.pages
        pages.append(pfn)
        if len(pages) >= hot.high:
            free_pages_bulk(pa, zone, hot.batch, pages)
    else:
        for i in range(pfn, pfn + nr):
            mem_map[i] = FREE
        zone.all_unreclaimable = False   # free_one_page
        zone.pages_scanned = 0
        __free_one_page(zone, pfn, order)
    waiters = pa.free_waiters
    if waiters is not None:
        waiters()
    return True


def bad_page(pa: PageAllocator, pfn: int, order: int, got: int | None) -> bool:
    if got is not None:
        pa.alloc_order[pfn] = got  # not ours to free: leave it as it was
    owner = page_owner(pa, pfn)
    cache = owner.cache if owner is not None else None
    if owner is not None and cache is not None and owner.pfn == pfn and cache.gfporder == order:
        what = f"owned by the slab cache {cache.name}"
    elif cache is not None:
        what = f"inside a slab of cache {cache.name}"
    elif got is None:
        what = "not allocated"
    else:
        what = f"allocated with order {got}"
    pa.log.printk(KERN_ERR, f"Bad page state in process '{pa.current.comm}'\n"
                            f"page:pfn {pfn:#x} order:{order} ({what})\n"
                            "Trying to fix it up, but a reboot is needed")
    return False


def free_pages(pa: PageAllocator, addr: int, order: int) -> bool:
    """free_pages(addr, order): __free_pages of the frame at a physical address."""
    return __free_pages(pa, addr >> pa.page_shift, order)


def free_pages_bulk(pa: PageAllocator, zone: Zone, count: int, pages: list[int]) -> None:
    """Give `count` pages from the cold end of a per-CPU list to the buddy lists."""
    victims = pages[:count]
    del pages[:count]
    zone.all_unreclaimable = False       # free_pages_bulk
    zone.pages_scanned = 0
    mem_map = pa.mem_map
    for pfn in victims:
        mem_map[pfn] = FREE
        __free_one_page(zone, pfn, 0)


def __free_one_page(zone: Zone, pfn: int, order: int) -> None:
    """Coalesce with free buddies as far as they go."""
    zone.free_pages += 1 << order
    area = zone.free_area
    while order < MAX_ORDER - 1:
        buddy = pfn ^ (1 << order)
        # one int object for both dict operations (compiled, each would box its own)
        key: Any = buddy
        free_list = area[order]
        if key not in free_list:
            break
        del free_list[key]
        pfn &= buddy
        order += 1
    area[order][pfn] = None


def drain_all_pages(pa: PageAllocator) -> None:
    """Empty every per-CPU page list into the buddy lists."""
    for zone in pa.zones:
        for lists in zone.pcp:
            for pcp in lists:
                if pcp.pages:
                    free_pages_bulk(pa, zone, len(pcp.pages), pcp.pages)


# -- reports ----------------------------------------------------------------


def K(pages: int) -> int:
    return pages << 2                    # K(x): x << (PAGE_SHIFT - 10)


def show_free_areas(pa: PageAllocator) -> list[str]:
    """mm/page_alloc.c show_free_areas (2.6.18), line for line. for_each_zone
    walks every node's MAX_NR_ZONES zones, the empty ones too (2.6.18 has
    DMA, DMA32, Normal, HighMem; DMA32 is always empty on i386); "Node N "
    leads each zone line only on a NUMA kernel (show_node). There is no LRU,
    dirty, writeback, NFS, mapped or page-table page here: those are 0."""
    lines: list[str] = []

    def node_prefix(node: Node) -> str:
        return f"Node {node.id} " if pa.numa else ""

    views = zones_2618(pa)
    for v in views:
        if v.zone is None:
            lines.append(f"{node_prefix(v.node)}{v.name} per-cpu: empty")
            continue
        lines.append(f"{node_prefix(v.node)}{v.name} per-cpu:")
        for cpu, (hot, cold) in enumerate(v.zone.pcp):
            for temp, pcp in (("hot", hot), ("cold", cold)):
                lines.append(f"cpu {cpu} {temp}: high {pcp.high}, batch {pcp.batch} used:{len(pcp.pages)}")
    free_high = sum(z.free_pages for z in pa.zones if z.is_highmem)
    lines.append(f"Free pages: {K(nr_free_pages(pa)):11d}kB ({K(free_high)}kB HighMem)")
    lines.append(f"Active:0 inactive:0 dirty:0 writeback:0 unstable:0 free:{nr_free_pages(pa)}"
                 f" slab:{nr_slab_pages(pa.vmstat)} mapped:0 pagetables:0")
    for v in views:
        z = v.zone
        lines.append(f"{node_prefix(v.node)}{v.name} free:{K(z.free_pages if z else 0)}kB"
                     f" min:{K(v.pages_min)}kB low:{K(v.pages_low)}kB high:{K(v.pages_high)}kB"
                     f" active:0kB inactive:0kB present:{K(v.present)}kB"
                     f" pages_scanned:{z.pages_scanned if z else 0}"
                     f" all_unreclaimable? {'yes' if z and z.all_unreclaimable else 'no'}")
        lines.append("lowmem_reserve[]: " + " ".join(str(r) for r in v.lowmem_reserve))
    for v in views:
        if v.zone is None:
            lines.append(f"{node_prefix(v.node)}{v.name}: empty")
            continue
        z = v.zone
        parts = [f"{z.nr_free(o)}*{K(1) << o}kB" for o in range(MAX_ORDER)]
        total = sum(z.nr_free(o) << o for o in range(MAX_ORDER))
        lines.append(f"{node_prefix(v.node)}{v.name}: " + " ".join(parts) + f" = {K(total)}kB")
    # show_swap_cache_info (mm/swap_state.c, 2.6.18): no swap
    lines += ["Swap cache: add 0, delete 0, find 0/0, race 0+0", "Free swap  = 0kB", "Total swap = 0kB"]
    return lines


ZONE_NAMES_2618: Final = ("DMA", "DMA32", "Normal", "HighMem")   # include/linux/mmzone.h, MAX_NR_ZONES 4
_IDX_2618 = {ZONE_DMA: 0, ZONE_NORMAL: 2, ZONE_HIGHMEM: 3}
# mm/page_alloc.c sysctl_lowmem_reserve_ratio[MAX_NR_ZONES-1] (2.6.18)
LOWMEM_RESERVE_RATIO_2618: Final = (256, 256, 32)


@dataclass(frozen=True)
class ZoneView:
    """One of a node's MAX_NR_ZONES zones as 2.6.18 has it: `zone` is None
    for a zone with no pages (DMA32 always on i386; DMA and Normal of an i386
    NUMA node above lowmem; HighMem below 896 MiB). An empty zone still has
    watermarks: setup_per_zone_pages_min gives an empty HighMem zone
    min = low = high = SWAP_CLUSTER_MAX."""
    node: Node
    name: str
    zone: Zone | None
    present: int
    pages_min: int
    pages_low: int
    pages_high: int
    lowmem_reserve: tuple[int, int, int, int]


def zones_2618(pa: PageAllocator) -> list[ZoneView]:
    """for_each_zone as 2.6.18 walks it: every node's DMA, DMA32, Normal,
    HighMem, with lowmem_reserve[4] from setup_per_zone_lowmem_reserve with
    the ratios {256, 256, 32}."""
    out: list[ZoneView] = []
    for node in pa.nodes:
        by_idx = {_IDX_2618[z.idx]: z for z in node.zones}
        present = [by_idx[i].present if i in by_idx else 0 for i in range(4)]
        reserve = [[0] * 4 for _ in range(4)]
        for j in range(4):
            pages = present[j]
            for idx in range(j - 1, -1, -1):
                reserve[idx][j] = pages // LOWMEM_RESERVE_RATIO_2618[idx]
                pages += present[idx]
        for i, name in enumerate(ZONE_NAMES_2618):
            z = by_idx.get(i)
            res = (reserve[i][0], reserve[i][1], reserve[i][2], reserve[i][3])
            if z is not None:
                out.append(ZoneView(node, name, z, z.present, z.pages_min, z.pages_low, z.pages_high, res))
            else:
                mark = SWAP_CLUSTER_MAX if i == 3 else 0
                out.append(ZoneView(node, name, None, 0, mark, mark, mark, res))
    return out


def printk_show_mem(pa: PageAllocator) -> None:
    """show_mem() into the log at 2.6.18's levels: "Mem-info:", "Free swap"
    and the page counts are KERN_INFO, show_free_areas' lines have no level
    (default_message_loglevel, KERN_WARNING)."""
    lines = show_mem(pa).split("\n")
    n_areas = len(show_free_areas(pa))
    pa.log.printk(KERN_INFO, lines[0])
    pa.log.printk(KERN_WARNING, "\n".join(lines[1:1 + n_areas]))
    pa.log.printk(KERN_INFO, "\n".join(lines[1 + n_areas:]))


def show_mem(pa: PageAllocator) -> str:
    """arch/i386/mm/pgtable.c show_mem (2.6.18): Mem-info:, show_free_areas,
    free swap, then the frame counts walked over every node's spanned pages:
    RAM, HighMem, PageReserved (pfn 0, the BIOS hole, mem_map; frames past
    the end of RAM in the last zone do not exist here), shared, swap cached,
    and the page states."""
    lines = ["Mem-info:"]
    lines += show_free_areas(pa)
    lines.append(f"Free swap:       {0:6d}kB")
    total = sum(n.spanned for n in pa.nodes)
    highmem = sum(z.spanned for z in pa.zones if z.is_highmem)
    reserved = sum(1 for owner in pa.mem_map if owner is RESERVED or owner is HOLE)
    lines += [f"{total} pages of RAM", f"{highmem} pages of HIGHMEM", f"{reserved} reserved pages",
              "0 pages shared", "0 pages swap cached", "0 pages dirty", "0 pages writeback",
              "0 pages mapped", f"{nr_slab_pages(pa.vmstat)} pages slab", "0 pages pagetables"]
    return "\n".join(lines)


# dump_stack: which Python functions stand for which 2.6.18 functions. A
# Python function not named here is not printed (inline in C, or not kernel
# code); one name may stand for a chain the C code has at that point.
_TRACE_SYMBOLS: dict[str, tuple[str, ...]] = {
    "__alloc_pages": ("__alloc_pages",),
    "out_of_memory": ("out_of_memory",),
    "__get_free_pages": ("__get_free_pages",),
    "get_zeroed_page": ("get_zeroed_page",),
    "cache_grow": ("kmem_getpages", "cache_grow"),
    "cache_alloc_refill": ("cache_alloc_refill",),
    "kmem_cache_alloc": ("kmem_cache_alloc",),
    "kmalloc": ("__kmalloc",),
    "kzalloc": ("kzalloc",),
    "__vmalloc": ("__vmalloc_area_node", "__vmalloc_node", "__vmalloc"),
    "vmalloc": ("vmalloc",),
    "vmalloc_32": ("vmalloc_32",),
    "mempool_alloc": ("mempool_alloc",),
    "mempool_alloc_slab": ("mempool_alloc_slab",),
    "mempool_kmalloc": ("mempool_kmalloc",),
    "mempool_alloc_pages": ("mempool_alloc_pages",),
}
# the system call a driver method is reached through
_SYSCALL_PATH = {"write": ("vfs_write", "sys_write"), "read": ("vfs_read", "sys_read"),
                 "ioctl": ("do_ioctl", "vfs_ioctl", "sys_ioctl")}


def dump_stack(pa: PageAllocator) -> str:
    """arch/i386/kernel/traps.c dump_stack (2.6.18): show_trace prints one
    " [<address>] symbol+offset/size" line per return address, innermost
    first (no "Call Trace:" header: that is show_stack's). The path is the
    simulated one, read off the Python stack: the allocator functions as
    their 2.6.18 counterparts, the driver's functions (registered call sites)
    as module text, then the system call it came through. The addresses are
    invented (arch/i386 KERNEL_TEXT; docs/deviations.md)."""
    from .arch.i386 import KERNEL_TEXT, MODULE_TEXT_BASE
    from .trace import call_site

    def line(sym: str, salt: int) -> str:
        addr, size = KERNEL_TEXT[sym]
        off = min(size - 3, 0x0B + (salt * 7) % max(1, size - 0x0E))
        return f" [<{addr + off:08x}>] {sym}+0x{off:x}/0x{size:x}"

    out = [line("show_trace", 0x0B), line("dump_stack", 0x12)]
    frame: FrameType | None = sys._getframe(1)
    method = None
    seen: set[str] = set()
    while frame is not None:
        code = frame.f_code
        name = code.co_name
        chain = _TRACE_SYMBOLS.get(name)
        if name == "kmem_cache_alloc" and frame.f_back is not None and \
                frame.f_back.f_code.co_name == "kmalloc":
            chain = ()               # __kmalloc calls __cache_alloc itself
        if chain is not None and name not in seen:
            seen.add(name)
            for i, sym in enumerate(chain):
                out.append(line(sym, frame.f_lineno - code.co_firstlineno + i))
        elif code.co_varnames[:1] == ("self",) and \
                type(frame.f_locals.get("self")) in pa.trace.drivers:
            site = call_site(pa.trace, frame)
            off = int(site.split("+0x", 1)[1].split("/", 1)[0], 16)
            base = MODULE_TEXT_BASE + (zlib.crc32(code.co_qualname.encode()) & 0x3FF0)
            out.append(f" [<{base + off:08x}>] {site}")
            method = name
        frame = frame.f_back
    current = pa.current
    if method is not None and not current.kthread:
        for sym in _SYSCALL_PATH.get(method, ()):
            out.append(line(sym, len(out)))
        out.append(line("sysenter_past_esp", 0x43))
    return "\n".join(out)
