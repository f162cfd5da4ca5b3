"""Linux 6.18 /proc renderers: meminfo, zoneinfo, vmstat, buddyinfo, pagetypeinfo.

Each function takes the 6.18 page allocator (allocator/linux618/page_alloc.py)
and returns the whole file as str, in the layout and order a real 6.18 x86_64
kernel prints (tests/data/linux-6.18/ holds the captures they are compared
with). Nothing here changes state. The format strings and rules are cited per
function (mm/vmstat.c, fs/proc/meminfo.c, mm/show_mem.c, mm/page-writeback.c
of 6.12, with the 6.13-6.18 items the live 6.18 kernel shows).

What the simulator has no counterpart of (the page cache, anonymous memory,
swap, THP, hugetlb pages, NUMA balancing, compaction, ...) is 0, as a 6.18
kernel with none of it in use would print.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .gfp import MIGRATE_TYPES
from .page_alloc import (
    MIGRATETYPE_NAMES,
    NODE_STAT_ITEMS,
    NUMA_STAT_ITEMS,
    VM_EVENT_ITEMS,
    ZONE_STAT_ITEMS,
    get_pfnblock_migratetype,
)

if TYPE_CHECKING:
    from .page_alloc import Node, PageAllocator, Zone

PAGE_SHIFT = 12
NR_PAGE_ORDERS = 11             # MAX_PAGE_ORDER 10 + 1
PAGEBLOCK_ORDER = 9             # pageblock_order = min(HPAGE_PMD_ORDER, MAX_PAGE_ORDER)
MAX_RECLAIM_RETRIES = 16        # mm/internal.h
HPAGE_PMD_NR = 512

# mm/vmstat.c migratetype_names[MIGRATE_TYPES] (no CMA) and vmstat_text, 6.18 on
# this config (tests/data/linux-6.18/vmstat): the page allocator keeps the
# counters under these names (enum zone_stat_item, numa_stat_item, node_stat_item)
NUMA_EVENT_ITEMS = NUMA_STAT_ITEMS
# the node items printed in THP units (vmstat_item_print_in_thp)
THP_NODE_ITEMS = frozenset(("nr_shmem_hugepages", "nr_shmem_pmdmapped", "nr_file_hugepages",
                            "nr_file_pmdmapped", "nr_anon_transparent_hugepages"))
# ... enum vm_stat_item ...
VM_STAT_ITEMS = ("nr_dirty_threshold", "nr_dirty_background_threshold", "nr_memmap_pages",
                 "nr_memmap_boot_pages")
# ... enum vm_event_item (CONFIG_VM_EVENT_COUNTERS): page_alloc.VM_EVENT_ITEMS ...
# ... and the deprecated "nr_unstable" (always 0) closes the file.
VMSTAT_TAIL = ("nr_unstable",)

# fs/proc/meminfo.c defaults this kernel runs with (sysctls)
OVERCOMMIT_RATIO = 50           # sysctl_overcommit_ratio
VM_DIRTY_RATIO = 20             # vm_dirty_ratio
DIRTY_BACKGROUND_RATIO = 10     # dirty_background_ratio
# arch/x86/include/asm/pgtable_64_types.h (4-level): VMALLOC_SIZE_TB 32
VMALLOC_TOTAL = (32 << 40) - 1  # VMALLOC_END - VMALLOC_START
# the hstates x86_64 registers, in order: 1 GiB (gigantic_pages_init, an
# arch_initcall) before the 2 MiB default (hugetlb_init); none has pages
HSTATE_SIZES_KB = (1 << 20, 2 << 10)
DEFAULT_HSTATE_KB = 2 << 10


def K(pages: int) -> int:
    """K(x): pages to kB (x << (PAGE_SHIFT - 10))."""
    return pages << (PAGE_SHIFT - 10)


# -- the counters ------------------------------------------------------------


def populated_zone(z: Zone) -> bool:
    return z.present > 0


def zone_page_state(z: Zone, item: str) -> int:
    """zone_page_state(zone, item) for a zone_stat_item, or
    zone_numa_event_state for a numa_stat_item."""
    if item in NUMA_EVENT_ITEMS:
        return z.numa_stat[item]
    return z.vm_stat[item]


def node_page_state_pages(node: Node, item: str) -> int:
    """node_page_state_pages(pgdat, item), in pages: the byte items
    (NR_SLAB_*_B) are kept in pages under their /proc names."""
    return node.vm_stat[item]


def global_zone_page_state(pa: PageAllocator, item: str) -> int:
    return sum(zone_page_state(z, item) for z in pa.zones)


def global_node_page_state_pages(pa: PageAllocator, item: str) -> int:
    return sum(node_page_state_pages(n, item) for n in pa.nodes)


def min_wmark_pages(z: Zone) -> int:
    return z.watermark[0] + z.watermark_boost


def low_wmark_pages(z: Zone) -> int:
    return z.watermark[1] + z.watermark_boost


def high_wmark_pages(z: Zone) -> int:
    return z.watermark[2] + z.watermark_boost


def promo_wmark_pages(z: Zone) -> int:
    return z.watermark[3] + z.watermark_boost


def si_mem_available(pa: PageAllocator) -> int:
    """mm/show_mem.c si_mem_available: free pages less totalreserve_pages,
    plus the page cache and reclaimable slab that could be freed, each less
    min(half of it, the low watermarks of all zones)."""
    wmark_low = sum(low_wmark_pages(z) for z in pa.zones)      # for_each_zone
    available = global_zone_page_state(pa, "nr_free_pages") - pa.totalreserve_pages
    pagecache = (global_node_page_state_pages(pa, "nr_active_file")
                 + global_node_page_state_pages(pa, "nr_inactive_file"))
    pagecache -= min(pagecache // 2, wmark_low)
    available += pagecache
    reclaimable = (global_node_page_state_pages(pa, "nr_slab_reclaimable")
                   + global_node_page_state_pages(pa, "nr_kernel_misc_reclaimable"))
    reclaimable -= min(reclaimable // 2, wmark_low)
    available += reclaimable
    return max(available, 0)


def global_dirty_limits(pa: PageAllocator) -> tuple[int, int]:
    """mm/page-writeback.c global_dirty_limits over global_dirtyable_memory
    and domain_dirty_limits (ratios, not bytes; no rt task): (background, dirty)."""
    x = global_zone_page_state(pa, "nr_free_pages")
    x -= min(x, pa.totalreserve_pages)
    x += (global_node_page_state_pages(pa, "nr_inactive_file")
          + global_node_page_state_pages(pa, "nr_active_file"))
    available = x + 1                       # "Ensure that we never return 0"
    page_size = 1 << PAGE_SHIFT
    ratio = VM_DIRTY_RATIO * page_size // 100
    bg_ratio = DIRTY_BACKGROUND_RATIO * page_size // 100
    thresh = min(ratio * available // page_size, (1 << 32) - 1)
    bg_thresh = bg_ratio * available // page_size
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    return bg_thresh, thresh


def all_vm_events(pa: PageAllocator) -> dict[str, int]:
    """all_vm_events() with pgpgin/pgpgout in kB (vmstat_start: sectors / 2)."""
    counts = {name: pa.vm_events.get(name, 0) for name in VM_EVENT_ITEMS}
    counts["pgpgin"] //= 2
    counts["pgpgout"] //= 2
    return counts


def vmstat_items(pa: PageAllocator) -> list[tuple[str, int]]:
    """vmstat_start's array, in vmstat_text order (mm/vmstat.c)."""
    rows = [(name, global_zone_page_state(pa, name)) for name in ZONE_STAT_ITEMS]
    rows += [(name, global_zone_page_state(pa, name)) for name in NUMA_EVENT_ITEMS]
    for name in NODE_STAT_ITEMS:
        value = global_node_page_state_pages(pa, name)
        rows.append((name, value // HPAGE_PMD_NR if name in THP_NODE_ITEMS else value))
    background, dirty = global_dirty_limits(pa)
    rows += [("nr_dirty_threshold", dirty), ("nr_dirty_background_threshold", background),
             ("nr_memmap_pages", 0), ("nr_memmap_boot_pages", pa.memmap_boot_pages)]
    rows += list(all_vm_events(pa).items())
    rows += [(name, 0) for name in VMSTAT_TAIL]
    return rows


def vmstat(pa: PageAllocator) -> str:
    """/proc/vmstat: mm/vmstat.c vmstat_show, `"%s %lu\\n"` per item."""
    return "".join(f"{name} {value}\n" for name, value in vmstat_items(pa))


# -- meminfo -----------------------------------------------------------------


def split_mem_range(start: int, limit: int) -> tuple[int, int, int]:
    """arch/x86/mm/init.c split_mem_range (x86_64, direct_gbpages): the pfn
    range [start, limit) as 4 KiB pages up to the first 2 MiB boundary,
    2 MiB pages up to the first 1 GiB boundary, 1 GiB pages, then 2 MiB and
    4 KiB pages again; (4k pages, 2M pages, 1G pages)."""
    pmd, pud = 1 << (21 - PAGE_SHIFT), 1 << (30 - PAGE_SHIFT)

    def up(x: int, a: int) -> int:
        return -(-x // a) * a

    def down(x: int, a: int) -> int:
        return x // a * a

    n4k = n2m = n1g = 0
    pfn = start
    end = min(up(pfn, pmd), limit)
    if pfn < end:
        n4k += end - pfn
        pfn = end
    lo, hi = up(pfn, pmd), min(up(pfn, pud), down(limit, pmd))
    if lo < hi:
        n2m += (hi - lo) // pmd
        pfn = hi
    lo, hi = up(pfn, pud), down(limit, pud)
    if lo < hi:
        n1g += (hi - lo) // pud
        pfn = hi
    lo, hi = up(pfn, pmd), down(limit, pmd)
    if lo < hi:
        n2m += (hi - lo) // pmd
        pfn = hi
    if pfn < limit:
        n4k += limit - pfn
    return n4k, n2m, n1g


ISA_END_PFN = 0x100000 >> PAGE_SHIFT


def direct_map_pages(pa: PageAllocator) -> tuple[int, int, int]:
    """direct_pages_count[PG_LEVEL_4K/2M/1G] as arch/x86/mm/init.c
    init_mem_mapping leaves it: the ISA range [0, 1 MiB) in 4 KiB pages, then
    every RAM range above it through split_mem_range. (The top-down steps of
    memory_map_top_down and later splits of the kernel text are not modelled.)"""
    ranges = sorted(pa.e820)            # the usable RAM ranges (pfns)
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        a = max(a, ISA_END_PFN)
        if a >= b:
            continue
        if merged and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    n4k, n2m, n1g = ISA_END_PFN, 0, 0
    for a, b in merged:
        x, y, w = split_mem_range(a, b)
        n4k, n2m, n1g = n4k + x, n2m + y, n1g + w
    return n4k, n2m, n1g


def meminfo(pa: PageAllocator, vmalloc_nr_pages: int = 0, percpu_pages: int = 0) -> str:
    """/proc/meminfo as 6.18 fs/proc/meminfo.c meminfo_proc_show prints it
    (show_val_kb: the label padded to 16 columns, `%8lu kB`), then
    hugetlb_report_meminfo and x86's arch_report_meminfo. This config has
    ZSWAP and THP, no HIGHMEM, CMA, MEMORY_FAILURE or UNACCEPTED_MEMORY.
    `vmalloc_nr_pages` is vmalloc_nr_pages() (the vmalloc part's), and
    `percpu_pages` pcpu_nr_pages()."""
    def g(item: str) -> int:
        return global_node_page_state_pages(pa, item)
    sreclaimable = g("nr_slab_reclaimable")
    sunreclaim = g("nr_slab_unreclaimable")
    active_anon, inactive_anon = g("nr_active_anon"), g("nr_inactive_anon")
    active_file, inactive_file = g("nr_active_file"), g("nr_inactive_file")
    commit_limit = pa.totalram_pages * OVERCOMMIT_RATIO // 100     # vm_commit_limit, no swap
    rows: list[tuple[str, int]] = [
        ("MemTotal", K(pa.totalram_pages)),
        ("MemFree", K(global_zone_page_state(pa, "nr_free_pages"))),
        ("MemAvailable", K(si_mem_available(pa))),
        ("Buffers", 0),
        ("Cached", K(max(g("nr_file_pages") - g("nr_swapcached"), 0))),
        ("SwapCached", K(g("nr_swapcached"))),
        ("Active", K(active_anon + active_file)),
        ("Inactive", K(inactive_anon + inactive_file)),
        ("Active(anon)", K(active_anon)), ("Inactive(anon)", K(inactive_anon)),
        ("Active(file)", K(active_file)), ("Inactive(file)", K(inactive_file)),
        ("Unevictable", K(g("nr_unevictable"))),
        ("Mlocked", K(global_zone_page_state(pa, "nr_mlock"))),
        ("SwapTotal", 0), ("SwapFree", 0),
        ("Zswap", 0), ("Zswapped", 0),
        ("Dirty", K(g("nr_dirty"))), ("Writeback", K(g("nr_writeback"))),
        ("AnonPages", K(g("nr_anon_pages"))), ("Mapped", K(g("nr_mapped"))),
        ("Shmem", K(g("nr_shmem"))),
        ("KReclaimable", K(sreclaimable + g("nr_kernel_misc_reclaimable"))),
        ("Slab", K(sreclaimable + sunreclaim)),
        ("SReclaimable", K(sreclaimable)), ("SUnreclaim", K(sunreclaim)),
        ("KernelStack", g("nr_kernel_stack")),          # NR_KERNEL_STACK_KB: already kB
        ("PageTables", K(g("nr_page_table_pages"))),
        ("SecPageTables", K(g("nr_sec_page_table_pages"))),
        ("NFS_Unstable", 0), ("Bounce", 0), ("WritebackTmp", 0),
        ("CommitLimit", K(commit_limit)), ("Committed_AS", 0),
        ("VmallocTotal", VMALLOC_TOTAL >> 10),
        ("VmallocUsed", K(vmalloc_nr_pages)), ("VmallocChunk", 0),
        ("Percpu", K(percpu_pages)),
        ("AnonHugePages", K(g("nr_anon_transparent_hugepages"))),
        ("ShmemHugePages", K(g("nr_shmem_hugepages"))),
        ("ShmemPmdMapped", K(g("nr_shmem_pmdmapped"))),
        ("FileHugePages", K(g("nr_file_hugepages"))),
        ("FilePmdMapped", K(g("nr_file_pmdmapped"))),
        ("Balloon", K(g("nr_balloon_pages"))),
    ]
    out = [f"{name + ':':<16}{value:8d} kB\n" for name, value in rows]
    # mm/hugetlb.c hugetlb_report_meminfo: the default hstate's counts (no pages)
    out += [f"HugePages_Total:   {0:5d}\n", f"HugePages_Free:    {0:5d}\n",
            f"HugePages_Rsvd:    {0:5d}\n", f"HugePages_Surp:    {0:5d}\n",
            f"Hugepagesize:   {DEFAULT_HSTATE_KB:8d} kB\n", f"Hugetlb:        {0:8d} kB\n"]
    # arch/x86/mm/pat/set_memory.c arch_report_meminfo
    d4k, d2m, d1g = direct_map_pages(pa)
    out += [f"DirectMap4k:    {d4k << 2:8d} kB\n", f"DirectMap2M:    {d2m << 11:8d} kB\n",
            f"DirectMap1G:    {d1g << 20:8d} kB\n"]
    return "".join(out)


# -- zoneinfo, buddyinfo, pagetypeinfo --------------------------------------


def calculate_normal_threshold(pa: PageAllocator, z: Zone) -> int:
    """mm/vmstat.c calculate_normal_threshold: the per-CPU stat threshold,
    min(125, 2 * fls(online cpus) * (1 + fls(managed in 128 MiB units)))."""
    mem = z.managed >> (27 - PAGE_SHIFT)
    return min(125, 2 * pa.sched.nr_cpus.bit_length() * (1 + mem.bit_length()))


def is_zone_first_populated(node_zones: Iterable[Zone], zone: Zone) -> bool:
    """mm/vmstat.c is_zone_first_populated."""
    for z in node_zones:
        if populated_zone(z):
            return z is zone
    return False


def node_zones(pa: PageAllocator, node: Node) -> list[Zone]:
    """pgdat->node_zones: all MAX_NR_ZONES zones of the node, in index order."""
    return node.node_zones


def zoneinfo_show_print(pa: PageAllocator, node: Node, z: Zone) -> str:
    """mm/vmstat.c zoneinfo_show_print (6.18): the node's stats before its
    first populated zone; an unpopulated zone ends after `protection:`;
    the pagesets with high_min/high_max (6.7) per online CPU."""
    out = [f"Node {node.id}, zone {z.name:>8}"]
    if is_zone_first_populated(node_zones(pa, node), z):
        out.append("\n  per-node stats")
        for name in NODE_STAT_ITEMS:
            pages = node_page_state_pages(node, name)
            if name in THP_NODE_ITEMS:
                pages //= HPAGE_PMD_NR
            out.append(f"\n      {name:<12} {pages}")
    out.append(f"\n  pages free     {zone_page_state(z, 'nr_free_pages')}"
               f"\n        boost    {z.watermark_boost}"
               f"\n        min      {min_wmark_pages(z)}"
               f"\n        low      {low_wmark_pages(z)}"
               f"\n        high     {high_wmark_pages(z)}"
               f"\n        promo    {promo_wmark_pages(z)}"
               f"\n        spanned  {z.spanned}"
               f"\n        present  {z.present}"
               f"\n        managed  {z.managed}"
               f"\n        cma      0")
    out.append("\n        protection: (" + ", ".join(str(r) for r in z.lowmem_reserve) + ")")
    if not populated_zone(z):
        return "".join(out) + "\n"
    for name in ZONE_STAT_ITEMS + NUMA_EVENT_ITEMS:
        out.append(f"\n      {name:<12} {zone_page_state(z, name)}")
    out.append("\n  pagesets")
    threshold = calculate_normal_threshold(pa, z)
    for cpu in range(pa.sched.nr_cpus):
        pcp = z.pcp[cpu]
        out.append(f"\n    cpu: {cpu}"
                   f"\n              count:    {pcp.count}"
                   f"\n              high:     {pcp.high}"
                   f"\n              batch:    {pcp.batch}"
                   f"\n              high_min: {pcp.high_min}"
                   f"\n              high_max: {pcp.high_max}"
                   f"\n  vm stats threshold: {threshold}")
    unreclaimable = int(node.kswapd_failures >= MAX_RECLAIM_RETRIES)
    out.append(f"\n  node_unreclaimable:  {unreclaimable}"
               f"\n  start_pfn:           {z.start_pfn}\n")
    return "".join(out)


def zoneinfo(pa: PageAllocator) -> str:
    """/proc/zoneinfo: walk_zones_in_node(m, pgdat, false, false,
    zoneinfo_show_print) for every node: every zone, the empty ones too."""
    return "".join(zoneinfo_show_print(pa, node, z)
                   for node in pa.nodes for z in node_zones(pa, node))


def buddyinfo(pa: PageAllocator) -> str:
    """/proc/buddyinfo: mm/vmstat.c frag_show_print over the populated zones,
    `"Node %d, zone %8s "` then `"%6lu "` per order."""
    out = []
    for node in pa.nodes:
        for z in node_zones(pa, node):
            if populated_zone(z):
                out.append(f"Node {node.id}, zone {z.name:>8} "
                           + "".join(f"{z.free_area[o].nr_free:6d} " for o in range(NR_PAGE_ORDERS))
                           + "\n")
    return "".join(out)


def pageblock_counts(z: Zone) -> list[int]:
    """pagetypeinfo_showblockcount_print: the migrate type of every
    pageblock_nr_pages-th pfn from zone_start_pfn (each has a struct page:
    the memmap covers whole sections, holes included)."""
    count = [0] * MIGRATE_TYPES
    for pfn in range(z.start_pfn, z.start_pfn + z.spanned, 1 << PAGEBLOCK_ORDER):
        mt = get_pfnblock_migratetype(z, pfn)
        if mt < MIGRATE_TYPES:
            count[mt] += 1
    return count


def pagetypeinfo(pa: PageAllocator) -> str:
    """/proc/pagetypeinfo (0400): mm/vmstat.c pagetypeinfo_show per node with
    memory: the pageblock size, the free blocks per migrate type and order
    (a list of 100000 or more prints as `>100000`), the pageblocks per type.
    No "mixed blocks" part: that needs CONFIG_PAGE_OWNER."""
    out: list[str] = []
    for node in pa.nodes:
        zones = [z for z in node_zones(pa, node) if populated_zone(z)]
        if not zones:
            continue                    # !node_state(nid, N_MEMORY)
        out.append(f"Page block order: {PAGEBLOCK_ORDER}\n"
                   f"Pages per block:  {1 << PAGEBLOCK_ORDER}\n\n")
        out.append(f"{'Free pages count per migrate type at order':<43} "
                   + "".join(f"{o:6d} " for o in range(NR_PAGE_ORDERS)) + "\n")
        for z in zones:
            for mt in range(MIGRATE_TYPES):
                line = f"Node {node.id:4d}, zone {z.name:>8}, type {MIGRATETYPE_NAMES[mt]:>12} "
                for o in range(NR_PAGE_ORDERS):
                    n = len(z.free_area[o].free_list[mt])
                    line += f">{100000:6d} " if n >= 100000 else f"{n:6d} "
                out.append(line + "\n")
        out.append(f"\n{'Number of blocks type ':<23}"
                   + "".join(f"{name:>12} " for name in MIGRATETYPE_NAMES) + "\n")
        for z in zones:
            out.append(f"Node {node.id}, zone {z.name:>8} "
                       + "".join(f"{c:12d} " for c in pageblock_counts(z)) + "\n")
    return "".join(out)
