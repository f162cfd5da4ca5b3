"""Zones and the buddy page allocator, after 2.6 mm/page_alloc.c.

Pages are named by their page frame number (pfn); `struct page *` of the kernel is
a pfn here. Each zone keeps free_area[0..MAX_ORDER-1] as insertion-ordered dicts
(pfn -> None) so that the list head is the most recently freed block and removing
a buddy is O(1). Order-0 pages also go through per-CPU hot and cold lists
(2.6.18 struct per_cpu_pages pcp[2]).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

from . import gfp as G
from .gfp import F
from .physmem import PAGE_SHIFT, PAGE_SIZE
from .faults import should_fail_alloc_page
from .printk import KERN_ERR, KERN_WARNING

MAX_ORDER = 11
ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM = 0, 1, 2
ZONE_NAMES = ("DMA", "Normal", "HighMem")
MAX_NR_ZONES = 3
# x86-32 boundaries (arch/x86/include/asm/dma.h MAX_DMA_ADDRESS; MAXMEM with the
# 3G/1G split and a 128 MiB vmalloc reserve).
DMA_LIMIT = 16 << 20
HIGHMEM_START = 896 << 20
# mm/page_alloc.c: sysctl_lowmem_reserve_ratio for DMA and Normal.
LOWMEM_RESERVE_RATIO = (256, 32)
SWAP_CLUSTER_MAX = 32
# __GFP_REPEAT / __GFP_NOFAIL: direct reclaim passes before giving up or sleeping
RECLAIM_PASSES_REPEAT = 4
SIZEOF_STRUCT_PAGE = 32  # i386, 2.6

# __alloc_pages alloc_flags (mm/page_alloc.c, 2.6.18)
ALLOC_NO_WATERMARKS = 0x01
ALLOC_WMARK_MIN = 0x02
ALLOC_WMARK_LOW = 0x04
ALLOC_WMARK_HIGH = 0x08
ALLOC_HARDER = 0x10
ALLOC_HIGH = 0x20


class PageOwner:
    """Tags for page frames that are not owned by a slab or a mapping."""
    cache = None  # what a Slab owner has: lets the free path tell slab pages apart cheaply

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


FREE = None                       # in a buddy free list
PCP = PageOwner("pcp")            # free, parked on a per-CPU list
RESERVED = PageOwner("reserved")  # boot-time reservation, never freed
HOLE = PageOwner("hole")          # no RAM behind the frame (e820 hole)
PAGES = PageOwner("pages")        # alloc_pages / __get_free_pages user


@dataclass(slots=True)
class PerCpuPages:
    """One per-CPU page list (2.6.18 struct per_cpu_pages)."""
    high: int
    batch: int
    pages: list = field(default_factory=list)  # the end of the list is its head


@dataclass(eq=False)
class Zone:
    node: "Node"
    idx: int
    start_pfn: int
    spanned: int
    present: int = 0
    managed: int = 0
    free_pages: int = 0
    pages_min: int = 0
    pages_low: int = 0
    pages_high: int = 0
    lowmem_reserve: list = field(default_factory=lambda: [0] * MAX_NR_ZONES)
    free_area: list = field(default_factory=lambda: [dict() for _ in range(MAX_ORDER)])
    pcp: list = field(default_factory=list)  # [cpu] -> (hot, cold)
    stats: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return ZONE_NAMES[self.idx]

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
    zones: list = field(default_factory=list)  # populated zones, lowest first
    cpus: list = field(default_factory=list)
    zonelists: dict = field(default_factory=dict)  # highest zone idx -> [Zone]


def zone_batchsize(present: int) -> int:
    """mm/page_alloc.c zone_batchsize (2.6.18)."""
    batch = present // 1024
    if batch * PAGE_SIZE > 512 * 1024:
        batch = (512 * 1024) // PAGE_SIZE
    batch //= 4
    if batch < 1:
        batch = 1
    return (1 << ((batch + batch // 2).bit_length() - 1)) - 1


def int_sqrt(x: int) -> int:
    return math.isqrt(x)


class PageAllocatorMixin:
    """The page allocator half of Kernel: boot-time layout, alloc and free."""

    # -- boot ---------------------------------------------------------------

    def _page_alloc_init(self, mem: int, nodes: int, cpus: int) -> None:
        self.nr_pages = mem >> PAGE_SHIFT
        self.mem_map = [HOLE] * self.nr_pages        # owner of every frame
        self.alloc_order: dict[int, int] = {}       # head pfn of an allocated block -> order
        self.nodes: list[Node] = []
        self.zones: list[Zone] = []
        self.cpu_node = [(c * nodes // cpus) if cpus >= nodes else (c % nodes) for c in range(cpus)]
        per_node = (self.nr_pages // nodes)
        for nid in range(nodes):
            start = nid * per_node
            span = per_node if nid < nodes - 1 else self.nr_pages - start
            node = Node(nid, start, span)
            node.cpus = [c for c in range(cpus) if self.cpu_node[c] == nid]
            # ZONE_DMA only exists on node 0: another node's frames below
            # 16 MiB (a small machine split in two) belong to its Normal zone.
            normal_lo = DMA_LIMIT if nid == 0 else 0
            for idx, (lo, hi) in enumerate(((0, DMA_LIMIT), (normal_lo, HIGHMEM_START),
                                            (HIGHMEM_START, 1 << 62))):
                zlo = max(start, lo >> PAGE_SHIFT)
                zhi = min(start + span, hi >> PAGE_SHIFT)
                if idx == ZONE_DMA and nid != 0:
                    continue
                if zhi <= zlo:
                    continue
                zone = Zone(node, idx, zlo, zhi - zlo)
                node.zones.append(zone)
                self.zones.append(zone)
            self.nodes.append(node)
        self._reserve_boot_memory()
        for zone in self.zones:
            batch = zone_batchsize(zone.present)
            zone.pcp = [(PerCpuPages(6 * batch, max(1, batch)),
                         PerCpuPages(2 * batch, max(1, batch // 2))) for _ in range(cpus)]
            zone.stats = dict.fromkeys(("pgalloc", "pgfree", "numa_hit", "numa_miss",
                                        "numa_foreign", "local_node", "other_node",
                                        "pgalloc_hot", "pgalloc_cold"), 0)
        self._build_zonelists()
        zones_by_pfn = sorted(self.zones, key=lambda z: z.start_pfn)
        self._zone_starts = [z.start_pfn for z in zones_by_pfn]
        self._zones_by_pfn = zones_by_pfn
        # the preferred zone per node and gfp & (__GFP_DMA|__GFP_HIGHMEM), for the
        # order-0 fast path (gfp_zone: DMA wins over HIGHMEM)
        self._preferred = [[(n.zonelists[t] or [None])[0] for t in (ZONE_NORMAL, ZONE_DMA, ZONE_HIGHMEM, ZONE_DMA)]
                           for n in self.nodes]
        self.min_free_kbytes = self._default_min_free_kbytes()
        self.setup_per_zone_pages_min()
        self.setup_per_zone_lowmem_reserve()
        self.totalram_pages = sum(z.managed for z in self.zones)
        self.totalhigh_pages = sum(z.managed for z in self.zones if z.is_highmem)

    def _reserve_boot_memory(self) -> None:
        """Lay out what a PC reserves before the buddy allocator starts.

        pfn 0 (BIOS data) and the mem_map array are reserved; 640 KiB..1 MiB is the
        e820 hole (absent). mem_map (32 bytes per page) is placed at 16 MiB when
        Normal exists, as bootmem's goal of MAX_DMA_ADDRESS does, else at 1 MiB.
        Everything else is handed to the buddy allocator in maximal blocks.
        """
        hole = (0x9F000 >> PAGE_SHIFT, 0x100000 >> PAGE_SHIFT)
        taken = [(0, 1, RESERVED), (hole[0], hole[1], HOLE)]
        for node in self.nodes:
            map_pages = -(-node.spanned * SIZEOF_STRUCT_PAGE // PAGE_SIZE)
            if node.id == 0:
                dma_end = DMA_LIMIT >> PAGE_SHIFT
                base = dma_end if node.spanned > dma_end + map_pages else hole[1]
            else:
                base = node.start_pfn
            taken.append((base, min(base + map_pages, node.start_pfn + node.spanned), RESERVED))
        self.reserved_pages = 0
        for zone in self.zones:
            lo, hi = zone.start_pfn, zone.end_pfn
            self.mem_map[lo:hi] = [FREE] * (hi - lo)
            zone.present = zone.spanned
            cuts = []
            for a, b, what in sorted(taken, key=lambda t: t[0]):
                a, b = max(a, lo), min(b, hi)
                if a >= b:
                    continue
                self.mem_map[a:b] = [what] * (b - a)
                if what is HOLE:
                    zone.present -= b - a
                else:
                    self.reserved_pages += b - a
                cuts.append((a, b))
            pfn = lo
            for a, b in cuts + [(hi, hi)]:
                self._free_range_to_buddy(zone, pfn, a)
                pfn = max(pfn, b)

    def _free_range_to_buddy(self, zone: Zone, pfn: int, end: int) -> None:
        while pfn < end:
            order = MAX_ORDER - 1
            while order and (pfn & ((1 << order) - 1) or pfn + (1 << order) > end):
                order -= 1
            zone.free_area[order][pfn] = None
            zone.free_pages += 1 << order
            zone.managed += 1 << order
            pfn += 1 << order

    def _build_zonelists(self) -> None:
        """Zonelists as build_zonelists: local node's zones high to low, then the others."""
        for node in self.nodes:
            order = [node] + [n for n in self.nodes if n is not node]
            for top in range(MAX_NR_ZONES):
                node.zonelists[top] = [z for n in order for z in reversed(n.zones) if z.idx <= top]

    def _default_min_free_kbytes(self) -> int:
        """init_per_zone_pages_min: lowmem_kbytes is nr_free_buffer_pages(), which
        at boot (pages_high still 0) sums the lowmem zones' present pages."""
        lowmem_kbytes = sum(z.present for z in self.zones if not z.is_highmem) * (PAGE_SIZE >> 10)
        return max(128, min(65536, int_sqrt(lowmem_kbytes * 16)))

    def setup_per_zone_pages_min(self) -> None:
        """Watermarks from min_free_kbytes (2.6 setup_per_zone_pages_min)."""
        pages_min = self.min_free_kbytes >> (PAGE_SHIFT - 10)
        lowmem_pages = sum(z.present for z in self.zones if not z.is_highmem) or 1
        for zone in self.zones:
            tmp = pages_min * zone.present // lowmem_pages
            if zone.is_highmem:
                zone.pages_min = max(SWAP_CLUSTER_MAX, min(128, zone.present // 1024))
            else:
                zone.pages_min = tmp
            zone.pages_low = zone.pages_min + (tmp >> 2)
            zone.pages_high = zone.pages_min + (tmp >> 1)

    def setup_per_zone_lowmem_reserve(self) -> None:
        """lowmem_reserve[] (2.6 setup_per_zone_lowmem_reserve): what a lower zone
        keeps back from allocations that could have used a higher zone."""
        for node in self.nodes:
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

    def set_min_free_kbytes(self, value: int) -> None:
        """proc/sys/vm/min_free_kbytes write: recompute every watermark."""
        self.min_free_kbytes = value
        self.setup_per_zone_pages_min()

    # -- allocation ---------------------------------------------------------

    def nr_free_pages(self) -> int:
        return sum(z.free_pages for z in self.zones)

    def zone_of(self, pfn: int) -> Zone:
        zone = self._zones_by_pfn[bisect_right(self._zone_starts, pfn) - 1]
        if not zone.start_pfn <= pfn < zone.start_pfn + zone.spanned:
            raise ValueError(f"pfn {pfn:#x} is in no zone")
        return zone

    @staticmethod
    def zone_watermark_ok(zone: Zone, order: int, mark: int, classzone_idx: int,
                          alloc_flags: int) -> bool:
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

    def _get_page_from_freelist(self, gfp_mask: int, order: int, zonelist: list,
                                alloc_flags: int, cpu: int):
        classzone_idx = zonelist[0].idx
        for zone in zonelist:
            if not alloc_flags & ALLOC_NO_WATERMARKS:
                if alloc_flags & ALLOC_WMARK_MIN:
                    mark = zone.pages_min
                elif alloc_flags & ALLOC_WMARK_LOW:
                    mark = zone.pages_low
                else:
                    mark = zone.pages_high
                if not self.zone_watermark_ok(zone, order, mark, classzone_idx, alloc_flags):
                    continue
            pfn = self._buffered_rmqueue(zone, order, gfp_mask, cpu)
            if pfn is not None:
                self._zone_statistics(zonelist[0], zone)
                return pfn
        return None

    def _zone_statistics(self, preferred: Zone, zone: Zone) -> None:
        """NUMA counters as 2.6.18 zone_statistics."""
        st = zone.stats
        if zone.node is preferred.node:
            st["numa_hit"] += 1
        else:
            st["numa_miss"] += 1
            preferred.stats["numa_foreign"] += 1
        if zone.node.id == self.cpu_node[self.current.cpu]:
            st["local_node"] += 1
        else:
            st["other_node"] += 1

    def _buffered_rmqueue(self, zone: Zone, order: int, gfp_mask: int, cpu: int):
        if order == 0:
            cold = 1 if gfp_mask & F.COLD else 0
            pcp = zone.pcp[cpu][cold]
            pages = pcp.pages
            if not pages:
                self._rmqueue_bulk(zone, pcp.batch, pages)
                if not pages:
                    return None
            pfn = pages.pop()
            zone.stats["pgalloc_cold" if cold else "pgalloc_hot"] += 1
        else:
            pfn = self._rmqueue(zone, order)
            if pfn is None:
                return None
        zone.stats["pgalloc"] += 1 << order
        return pfn

    def _rmqueue(self, zone: Zone, order: int):
        """__rmqueue: take a block of `order`, splitting a larger one (expand)."""
        area = zone.free_area
        for current in range(order, MAX_ORDER):
            if area[current]:
                pfn, _ = area[current].popitem()
                zone.free_pages -= 1 << order
                while current > order:
                    current -= 1
                    area[current][pfn + (1 << current)] = None
                return pfn
        return None

    def _rmqueue_bulk(self, zone: Zone, count: int, pages: list) -> None:
        mem_map = self.mem_map
        for _ in range(count):
            pfn = self._rmqueue(zone, 0)
            if pfn is None:
                break
            mem_map[pfn] = PCP
            pages.insert(0, pfn)  # list_add_tail: the first page taken is used first

    def alloc_pages(self, gfp_mask: int, order: int, node_id: int | None = None,
                    owner=PAGES):
        """Allocate 2**order contiguous frames; return the head pfn or None.

        May not sleep here: a mask with __GFP_WAIT gets one direct-reclaim pass
        (free slabs of every reclaimable cache, per-CPU page lists) and a retry.
        Without __GFP_NOWARN a failure is logged with a Mem-Info report.
        """
        if order == 0 and not self.page_slow:
            # The common case in one piece: the preferred zone is above its low
            # watermark (for its own zone type lowmem_reserve is 0) and the
            # CPU's list has a page. Anything else takes the general path.
            cpu = self.current.cpu
            zone = self._preferred[self.cpu_node[cpu] if node_id is None else node_id][gfp_mask & 3]
            if zone is not None and zone.free_pages > zone.pages_low:
                cold = gfp_mask & F.COLD
                pages = zone.pcp[cpu][1 if cold else 0].pages
                if not pages:
                    pcp = zone.pcp[cpu][1 if cold else 0]
                    self._rmqueue_bulk(zone, pcp.batch, pages)
                if pages:
                    pfn = pages.pop()
                    st = zone.stats
                    st["pgalloc"] += 1
                    st["pgalloc_cold" if cold else "pgalloc_hot"] += 1
                    st["numa_hit"] += 1
                    st["local_node" if zone.node.id == self.cpu_node[cpu] else "other_node"] += 1
                    self.mem_map[pfn] = owner
                    if owner.cache is None:  # a slab knows its own order
                        self.alloc_order[pfn] = 0
                    if gfp_mask & F.ZERO:
                        self.mem.zero(pfn << PAGE_SHIFT, PAGE_SIZE)
                    return pfn
        return self._alloc_pages_slow(gfp_mask, order, node_id, owner)

    def _alloc_pages_slow(self, gfp_mask: int, order: int, node_id, owner):
        if order >= MAX_ORDER:
            return None
        if self.fail_page_alloc_armed and should_fail_alloc_page(self, gfp_mask, order):
            return None
        cpu = self.current.cpu
        if node_id is None:
            node_id = self.cpu_node[cpu]
        zonelist = self.nodes[node_id].zonelists[G.gfp_zone(gfp_mask)]
        if not zonelist:
            return self._nopage(gfp_mask, order)
        pfn = self._get_page_from_freelist(gfp_mask, order, zonelist, ALLOC_WMARK_LOW, cpu)
        if pfn is None:
            wait = gfp_mask & F.WAIT
            alloc_flags = ALLOC_WMARK_MIN
            if not wait:
                alloc_flags |= ALLOC_HARDER
            if gfp_mask & F.HIGH:
                alloc_flags |= ALLOC_HIGH
            pfn = self._get_page_from_freelist(gfp_mask, order, zonelist, alloc_flags, cpu)
            if pfn is None and wait:
                # direct reclaim; __GFP_REPEAT and __GFP_NOFAIL keep at it for a while
                passes = 1 if gfp_mask & F.NORETRY else RECLAIM_PASSES_REPEAT \
                    if gfp_mask & (F.REPEAT | F.NOFAIL) else 1
                for _ in range(passes):
                    self.vm_events["allocstall"] += 1
                    freed = self.try_to_free_pages(gfp_mask)
                    pfn = self._get_page_from_freelist(gfp_mask, order, zonelist, alloc_flags, cpu)
                    if pfn is not None or not freed:
                        break
            if pfn is None:
                return self._nopage(gfp_mask, order)
        self.mem_map[pfn:pfn + (1 << order)] = [owner] * (1 << order)
        if owner.cache is None:
            self.alloc_order[pfn] = order
        if gfp_mask & F.ZERO:
            self.mem.zero(pfn << PAGE_SHIFT, PAGE_SIZE << order)
        if self.trace_hook:
            self.trace_hook("mm_page_alloc", None, pfn, gfp_mask, order)
        return pfn

    def alloc_pages_node(self, node_id: int, gfp_mask: int, order: int, owner=PAGES):
        return self.alloc_pages(gfp_mask, order, node_id, owner)

    def _nopage(self, gfp_mask: int, order: int):
        if (gfp_mask & F.WAIT and self.sleep_ok and not gfp_mask & F.NORETRY):
            # The caller can sleep: it waits for frees and retries (see
            # scullcfs/sleep.py); the warning is for the final failure.
            self.sleep_request = (gfp_mask, order)
            return None
        return self.warn_alloc_failure(gfp_mask, order)

    def warn_alloc_failure(self, gfp_mask: int, order: int):
        """Count a failed allocation and, without __GFP_NOWARN, log the 2.6
        warning with a Mem-Info report (rate-limited like printk_ratelimit)."""
        self.vm_events["pgalloc_fail"] += 1
        if not gfp_mask & F.NOWARN and self.log.ratelimit():
            self.log.printk(KERN_WARNING, f"{self.current.comm}: page allocation failure."
                                          f" order:{order}, mode:0x{gfp_mask:x}")
            self.log.printk(KERN_WARNING, self.show_mem())
        return None

    def try_to_free_pages(self, gfp_mask: int) -> int:
        """Direct reclaim, simulated: shrink the slab caches that this mask may
        reclaim and drain the per-CPU page lists (mm/vmscan.c shrink_slab; the
        drain is what 2.6.27+ __alloc_pages_direct_reclaim adds). Returns pages freed."""
        before = self.nr_free_pages()
        self.shrink_slab(gfp_mask)
        self.drain_all_pages()
        return self.nr_free_pages() - before

    def get_free_pages(self, gfp_mask: int, order: int):
        """Return the physical address of 2**order lowmem pages, or None.
        __GFP_HIGHMEM is a BUG (the pages would have no kernel address)."""
        if gfp_mask & F.HIGHMEM:
            self.log.printk(KERN_ERR, "kernel BUG at mm/page_alloc.c: __get_free_pages() with __GFP_HIGHMEM")
            return None
        pfn = self.alloc_pages(gfp_mask, order)
        return None if pfn is None else pfn << PAGE_SHIFT

    def get_zeroed_page(self, gfp_mask: int):
        return self.get_free_pages(gfp_mask | F.ZERO, 0)

    # -- freeing ------------------------------------------------------------

    def free_pages_pfn(self, pfn: int, order: int, slab_pages: bool = False) -> bool:
        """The kernel's __free_pages(page, order): give a block back. A block that
        is not allocated, is freed with another order than it was allocated with,
        or belongs to a slab (unless the slab allocator frees it) is a logged "Bad
        page state" and is left alone. Returns True if freed."""
        mem_map = self.mem_map
        if not 0 <= pfn < self.nr_pages:
            return self._bad_page(pfn, order, None)
        if slab_pages:
            # slab pages are not in alloc_order: the Slab owning them is the record
            owner = mem_map[pfn]
            if owner is None or owner.cache is None or owner.pfn != pfn or owner.cache.gfporder != order:
                return self._bad_page(pfn, order, None)
        else:
            got = self.alloc_order.pop(pfn, None)
            if got != order:
                return self._bad_page(pfn, order, got)
        if self.trace_hook:
            self.trace_hook("mm_page_free", None, pfn, 0, order)
        zone = self._zones_by_pfn[bisect_right(self._zone_starts, pfn) - 1]
        zone.stats["pgfree"] += 1 << order
        self.vm_events["pgfree"] += 1 << order
        if order == 0:
            hot = zone.pcp[self.current.cpu][0]
            mem_map[pfn] = PCP
            pages = hot.pages
            pages.append(pfn)
            if len(pages) >= hot.high:
                self._free_pages_bulk(zone, hot.batch, pages)
        else:
            mem_map[pfn:pfn + (1 << order)] = [FREE] * (1 << order)
            self._free_one_page(zone, pfn, order)
        if self.free_waiters is not None:
            self.free_waiters()
        return True

    def _bad_page(self, pfn: int, order: int, got) -> bool:
        if got is not None:
            self.alloc_order[pfn] = got  # not ours to free: leave it as it was
        owner = self.mem_map[pfn] if 0 <= pfn < self.nr_pages else None
        cache = getattr(owner, "cache", None)
        if cache is not None and getattr(owner, "pfn", None) == pfn and cache.gfporder == order:
            what = f"owned by the slab cache {cache.name}"
        elif cache is not None:
            what = f"inside a slab of cache {cache.name}"
        elif got is None:
            what = "not allocated"
        else:
            what = f"allocated with order {got}"
        self.log.printk(KERN_ERR, f"Bad page state in process '{self.current.comm}'\n"
                                  f"page:pfn {pfn:#x} order:{order} ({what})\n"
                                  "Trying to fix it up, but a reboot is needed")
        return False

    def free_pages(self, addr: int, order: int) -> bool:
        return self.free_pages_pfn(addr >> PAGE_SHIFT, order)

    def _free_pages_bulk(self, zone: Zone, count: int, pages: list) -> None:
        """Give `count` pages from the cold end of a per-CPU list to the buddy lists."""
        victims = pages[:count]
        del pages[:count]
        for pfn in victims:
            self.mem_map[pfn] = FREE
            self._free_one_page(zone, pfn, 0)

    def _free_one_page(self, zone: Zone, pfn: int, order: int) -> None:
        """__free_one_page: coalesce with free buddies as far as they go."""
        zone.free_pages += 1 << order
        area = zone.free_area
        while order < MAX_ORDER - 1:
            buddy = pfn ^ (1 << order)
            if buddy not in area[order]:
                break
            del area[order][buddy]
            pfn &= buddy
            order += 1
        area[order][pfn] = None

    def drain_all_pages(self) -> None:
        """Empty every per-CPU page list into the buddy lists."""
        for zone in self.zones:
            for lists in zone.pcp:
                for pcp in lists:
                    if pcp.pages:
                        self._free_pages_bulk(zone, len(pcp.pages), pcp.pages)

    def on_pages_freed(self) -> None:
        """Wake allocations sleeping for memory (see Kernel.free_waiters)."""
        if self.free_waiters is not None:
            self.free_waiters()

    # -- reports ------------------------------------------------------------

    def show_mem(self) -> str:
        """A Mem-Info report like 2.6 show_free_areas()."""
        lines = ["Mem-info:"]
        for zone in self.zones:
            lines.append(f"Node {zone.node.id} {zone.name} per-cpu:")
            for cpu, (hot, cold) in enumerate(zone.pcp):
                lines.append(f"cpu {cpu} hot: high {hot.high}, batch {hot.batch} used:{len(hot.pages)}")
                lines.append(f"cpu {cpu} cold: high {cold.high}, batch {cold.batch} used:{len(cold.pages)}")
        free_high = sum(z.free_pages for z in self.zones if z.is_highmem)
        lines.append(f"Free pages: {self.nr_free_pages() * 4:9d}kB ({free_high * 4}kB HighMem)")
        lines.append(f"slab:{self.nr_slab_pages()}")
        for zone in self.zones:
            k = PAGE_SIZE >> 10
            lines.append(f"Node {zone.node.id} {zone.name} free:{zone.free_pages * k}kB"
                         f" min:{zone.pages_min * k}kB low:{zone.pages_low * k}kB"
                         f" high:{zone.pages_high * k}kB present:{zone.present * k}kB")
            lines.append("lowmem_reserve[]: " + " ".join(str(r) for r in zone.lowmem_reserve))
        for zone in self.zones:
            parts = [f"{zone.nr_free(o)}*{(PAGE_SIZE >> 10) << o}kB" for o in range(MAX_ORDER)]
            lines.append(f"Node {zone.node.id} {zone.name}: " + " ".join(parts)
                         + f" = {zone.free_pages * (PAGE_SIZE >> 10)}kB")
        return "\n".join(lines)
