"""Renderers: the kernel's /proc and /sys texts, read from the live state.

Each function takes the Kernel and returns the whole file as str, in the format
the kernel prints (format strings cited per function). Nothing here changes state.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .narrow import page_alloc_2618
from .page_alloc import Zone
from .physmem import PAGE_SHIFT
from .vmalloc import VM_ALLOC, VM_IOREMAP, VM_MAP, VM_USERMAP, VM_VPAGES

if TYPE_CHECKING:
    from .kernel import Kernel

# include/linux/mmzone.h (2.6.18): MAX_NR_ZONES is 4, ZONE_DMA 0, ZONE_DMA32 1,
# ZONE_NORMAL 2, ZONE_HIGHMEM 3; on i386 ZONE_DMA32 is always empty (never
# populated, so never printed, but it has its slot in every lowmem_reserve[]).
MAX_NR_ZONES_2618 = 4
ZONE_NAMES_2618 = ("DMA", "DMA32", "Normal", "HighMem")
# the vm_event items counted per zone type get these suffixes (vmstat_text)
ZONE_VMSTAT_SUFFIX = ("dma", "dma32", "normal", "high")

# mm/vmstat.c vmstat_text (2.6.18), the zone_stat_item part (include/linux/mmzone.h);
# the NUMA items exist only with CONFIG_NUMA.
ZONE_STAT_TEXT = ("nr_anon_pages", "nr_mapped", "nr_file_pages", "nr_slab", "nr_page_table_pages",
                  "nr_dirty", "nr_writeback", "nr_unstable", "nr_bounce")
NUMA_STAT_TEXT = ("numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local",
                  "numa_other")


def _per_zone(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{suffix}" for suffix in ZONE_VMSTAT_SUFFIX)


# mm/vmstat.c vmstat_text (2.6.18), the vm_event_item part (CONFIG_VM_EVENT_COUNTERS).
VM_EVENT_TEXT = (("pgpgin", "pgpgout", "pswpin", "pswpout") + _per_zone("pgalloc")
                 + ("pgfree", "pgactivate", "pgdeactivate", "pgfault", "pgmajfault")
                 + _per_zone("pgrefill") + _per_zone("pgsteal") + _per_zone("pgscan_kswapd")
                 + _per_zone("pgscan_direct")
                 + ("pginodesteal", "slabs_scanned", "kswapd_steal", "kswapd_inodesteal",
                    "pageoutrun", "allocstall", "pgrotated"))

# Counters the simulator keeps that 2.6.18 does not have: they are not in
# /proc/vmstat but in sim_vmstat (a debugfs file, see docs/deviations.md).
SIM_ONLY_COUNTERS = ("pgalloc_fail", "drop_slab")

# mm/vmscan.c: DEF_PRIORITY, the prev/temp_priority free_area_init_core sets
DEF_PRIORITY = 12


def zone_index_2618(k: Kernel, z: Zone) -> int:
    """The 2.6.18 zone index (ZONE_DMA .. ZONE_HIGHMEM) of a simulated zone."""
    return ZONE_NAMES_2618.index(k.version.arch.zones[z.idx].name)


def lowmem_reserve_2618(k: Kernel, z: Zone) -> list[int]:
    """zone->lowmem_reserve[MAX_NR_ZONES] with 2.6.18's four slots. The empty
    DMA32 zone adds no pages, so setup_per_zone_lowmem_reserve gives 0 in its
    slot and the other slots are those of the three i386 zones."""
    reserve = list(z.lowmem_reserve)
    if len(reserve) == MAX_NR_ZONES_2618:
        return reserve
    out = [0] * MAX_NR_ZONES_2618
    for span, value in zip(k.version.arch.zones, reserve):
        out[ZONE_NAMES_2618.index(span.name)] = value
    return out


def slabinfo(k: Kernel) -> str:
    """/proc/slabinfo 2.1 as 2.6 mm/slab.c s_show prints it; newest cache first.
    With slab debugging the `(statistics)` header and columns are added."""
    stats = k.slab_debug
    out = ["slabinfo - version: 2.1 (statistics)\n" if stats else "slabinfo - version: 2.1\n",
           ("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
            " : tunables <limit> <batchcount> <sharedfactor>"
            " : slabdata <active_slabs> <num_slabs> <sharedavail>")]
    if stats:
        out.append(" : globalstat <listallocs> <maxobjs> <grown> <reaped> <error> <maxfreeable>"
                   " <nodeallocs> <remotefrees> <alienoverflow>"
                   " : cpustat <allochit> <allocmiss> <freehit> <freemiss>")
    out.append("\n")
    for c in k.cache_chain:
        num_slabs, active_slabs, num_objs, active_objs = c.slab_counts()
        line = (f"{c.name:<17} {active_objs:6d} {num_objs:6d} {c.buffer_size:6d} {c.num:4d}"
                f" {1 << c.gfporder:4d} : tunables {c.limit:4d} {c.batchcount:4d} {c.shared:4d}"
                f" : slabdata {active_slabs:6d} {num_slabs:6d} {c.shared_avail():6d}")
        if stats:
            s = c.stats
            # s_show's format string continues a line with a backslash: " %4lu \\" then
            # four tabs of indentation are part of the text (2.6.18 mm/slab.c)
            line += (f" : globalstat {s['allocs']:7d} {s['high']:6d} {c.grown:5d} {c.reaped:4d}"
                     f" \t\t\t\t{c.errors:4d} {s['max_freeable']:4d} {s['node_allocs']:4d} {c.node_frees:4d}"
                     f" {s['overflows']:4d}"
                     f" : cpustat {s['allochit']:6d} {s['allocmiss']:6d} {s['freehit']:6d} {s['freemiss']:6d}")
        out.append(line + "\n")
    return "".join(out)


def buddyinfo(k: Kernel) -> str:
    """/proc/buddyinfo (mm/vmstat.c frag_show): free blocks per order per zone."""
    out = []
    for z in page_alloc_2618(k).zones:
        out.append(f"Node {z.node.id}, zone {z.name:>8} "
                   + "".join(f"{len(a):6d} " for a in z.free_area) + "\n")
    return "".join(out)


def _kb(pages: int) -> int:
    return pages << (PAGE_SHIFT - 10)


# mm/mmap.c sysctl_overcommit_ratio's default
OVERCOMMIT_RATIO = 50


def meminfo(k: Kernel) -> str:
    """/proc/meminfo as 2.6.18 fs/proc/proc_misc.c meminfo_read_proc prints it:
    each label padded to 14 columns ("MemTotal:     %8lu kB\n"), `Slab:` alone
    (NR_SLAB; SReclaimable/SUnreclaim are 2.6.19). No HugePages lines: the
    i386 defconfig of 2.6.18 has CONFIG_HUGETLB_PAGE unset, so
    hugetlb_report_meminfo is the stub that prints nothing."""
    total = k.totalram_pages
    free = k.nr_free_pages()
    high_total = k.totalhigh_pages
    high_free = sum(z.free_pages for z in page_alloc_2618(k).zones if z.is_highmem)
    vm_total, vm_used, vm_chunk = k.vmalloc_info()
    # allowed = (totalram_pages - hugetlb_total_pages()) * sysctl_overcommit_ratio / 100
    #           + total_swap_pages
    allowed = total * OVERCOMMIT_RATIO // 100
    rows = [
        ("MemTotal", _kb(total)), ("MemFree", _kb(free)), ("Buffers", 0), ("Cached", 0),
        ("SwapCached", 0), ("Active", 0), ("Inactive", 0),
        ("HighTotal", _kb(high_total)), ("HighFree", _kb(high_free)),
        ("LowTotal", _kb(total - high_total)), ("LowFree", _kb(free - high_free)),
        ("SwapTotal", 0), ("SwapFree", 0), ("Dirty", 0), ("Writeback", 0),
        ("AnonPages", 0), ("Mapped", 0), ("Slab", _kb(k.nr_slab_pages())),
        ("PageTables", 0), ("NFS_Unstable", 0), ("Bounce", 0),
        ("CommitLimit", _kb(allowed)), ("Committed_AS", 0),
        ("VmallocTotal", vm_total), ("VmallocUsed", vm_used), ("VmallocChunk", vm_chunk),
    ]
    return "".join(f"{name + ':':<14}{value:8d} kB\n" for name, value in rows)


def kmsg(k: Kernel) -> str:
    """The log as `<pri>[seconds] text` lines (printk with CONFIG_PRINTK_TIME)."""
    return "".join(f"<{r.level}>[{r.seconds:12.6f}] {r.text}\n" for r in k.log.records)


def calculate_threshold(k: Kernel, z: Zone) -> int:
    """mm/vmstat.c calculate_threshold (2.6.18, CONFIG_SMP): the per-CPU
    pageset's stat_threshold."""
    mem = z.present >> (27 - PAGE_SHIFT)  # memory in 128 MB units
    threshold = 2 * k.cpus.bit_length() * (1 + mem.bit_length())  # fls()
    return min(125, threshold)


def zone_nr_slab(k: Kernel, z: Zone) -> int:
    """zone_page_state(zone, NR_SLAB): the zone's frames that belong to a slab
    (kmem_getpages adds them to the zone of the slab's pages)."""
    return sum(1 for owner in page_alloc_2618(k).mem_map[z.start_pfn:z.end_pfn]
               if owner is not None and owner.cache is not None)


def zoneinfo(k: Kernel) -> str:
    """/proc/zoneinfo as 2.6.18 mm/vmstat.c zoneinfo_show prints it: populated
    zones only; the zone_stat_item counters; protection with MAX_NR_ZONES (4)
    entries; a CPU whose hot and cold lists are both empty is skipped, else
    both lists are printed and then (CONFIG_SMP) its stat threshold."""
    out = []
    for z in page_alloc_2618(k).zones:
        if not z.present:
            continue  # populated_zone()
        out.append(f"Node {z.node.id}, zone {z.name:>8}")
        out.append(f"\n  pages free     {z.free_pages}"
                   f"\n        min      {z.pages_min}"
                   f"\n        low      {z.pages_low}"
                   f"\n        high     {z.pages_high}"
                   f"\n        active   {getattr(z, 'nr_active', 0)}"
                   f"\n        inactive {getattr(z, 'nr_inactive', 0)}"
                   f"\n        scanned  {getattr(z, 'pages_scanned', 0)}"
                   f" (a: {getattr(z, 'nr_scan_active', 0)} i: {getattr(z, 'nr_scan_inactive', 0)})"
                   f"\n        spanned  {z.spanned}"
                   f"\n        present  {z.present}")
        for name, value in zone_vmstat(k, z):
            out.append(f"\n    {name:<12} {value}")
        out.append("\n        protection: ("
                   + ", ".join(str(r) for r in lowmem_reserve_2618(k, z)) + ")"
                   "\n  pagesets")
        threshold = calculate_threshold(k, z)
        for cpu in range(k.cpus):
            pair = z.pcp[cpu]
            if not any(pcp.pages for pcp in pair):
                continue
            for j, pcp in enumerate(pair):
                out.append(f"\n    cpu: {cpu} pcp: {j}"
                           f"\n              count: {len(pcp.pages)}"
                           f"\n              high:  {pcp.high}"
                           f"\n              batch: {pcp.batch}")
            out.append(f"\n  vm stats threshold: {threshold}")
        out.append(f"\n  all_unreclaimable: {int(getattr(z, 'all_unreclaimable', 0))}"
                   f"\n  prev_priority:     {getattr(z, 'prev_priority', DEF_PRIORITY)}"
                   f"\n  temp_priority:     {getattr(z, 'temp_priority', DEF_PRIORITY)}"
                   f"\n  start_pfn:         {z.start_pfn}\n")
    return "".join(out)


def zone_vmstat(k: Kernel, z: Zone) -> list[tuple[str, int]]:
    """zone_page_state(zone, i) for i < NR_VM_ZONE_STAT_ITEMS (2.6.18). Only
    NR_SLAB and the NUMA counters are modelled; the page cache and user memory
    counters are 0 (there is neither)."""
    rows = [(name, 0) for name in ZONE_STAT_TEXT]
    rows[ZONE_STAT_TEXT.index("nr_slab")] = ("nr_slab", zone_nr_slab(k, z))
    if k.numa:
        rows += zone_numa_stats(z)
    return rows


def zone_numa_stats(z: Zone) -> list[tuple[str, int]]:
    """NUMA_HIT .. NUMA_OTHER of a zone (zone_statistics; interleave is not modelled)."""
    st = z.stats
    return [("numa_hit", st["numa_hit"]), ("numa_miss", st["numa_miss"]),
            ("numa_foreign", st["numa_foreign"]), ("numa_interleave", 0),
            ("numa_local", st["local_node"]), ("numa_other", st["other_node"])]


def vm_event_counts(k: Kernel) -> dict[str, int]:
    """all_vm_events() under 2.6.18's names: pgalloc_* per zone type from the
    zones, the rest from the VmStat counters (0 for what is not modelled)."""
    events = k.vm_events
    counts = {name: events.get(name, 0) for name in VM_EVENT_TEXT}
    for z in page_alloc_2618(k).zones:
        suffix = ZONE_VMSTAT_SUFFIX[zone_index_2618(k, z)]
        counts[f"pgalloc_{suffix}"] += z.stats["pgalloc"]
    counts["pgpgin"] //= 2   # sectors -> kbytes, as vmstat_start
    counts["pgpgout"] //= 2
    return counts


def vmstat(k: Kernel) -> str:
    """/proc/vmstat as 2.6.18 mm/vmstat.c vmstat_show: `"%s %lu\n"` for every
    vmstat_text entry, the global zone counters first, then (CONFIG_NUMA) the
    NUMA counters, then the vm events."""
    rows: list[tuple[str, int]] = [(name, 0) for name in ZONE_STAT_TEXT]
    rows[ZONE_STAT_TEXT.index("nr_slab")] = ("nr_slab", k.nr_slab_pages())
    if k.numa:
        totals = dict.fromkeys(NUMA_STAT_TEXT, 0)
        for z in page_alloc_2618(k).zones:
            for name, value in zone_numa_stats(z):
                totals[name] += value
        rows += list(totals.items())
    rows += list(vm_event_counts(k).items())
    return "".join(f"{name} {value}\n" for name, value in rows)


def sim_vmstat(k: Kernel) -> str:
    """The simulator's own counters, which 2.6.18's /proc/vmstat does not have
    (`name value` lines; for a debugfs file, docs/deviations.md): free pages,
    slab pages split by SLAB_RECLAIM_ACCOUNT (the 2.6.19 split), order-0
    allocations from the hot and the cold per-CPU lists, failed allocations,
    drop_caches writes."""
    rows = [("nr_free_pages", k.nr_free_pages()),
            ("nr_slab_reclaimable", k.nr_slab_pages_reclaimable),
            ("nr_slab_unreclaimable", k.nr_slab_pages_unreclaimable),
            ("pgalloc_hot", sum(z.stats["pgalloc_hot"] for z in page_alloc_2618(k).zones)),
            ("pgalloc_cold", sum(z.stats["pgalloc_cold"] for z in page_alloc_2618(k).zones))]
    rows += [(name, k.vm_events.get(name, 0)) for name in SIM_ONLY_COUNTERS]
    return "".join(f"{name} {value}\n" for name, value in rows)


def numastat(k: Kernel, node_id: int) -> str:
    """sys/devices/system/node/nodeN/numastat (drivers/base/node.c node_read_numastat)."""
    zones = [z for z in page_alloc_2618(k).zones if z.node.id == node_id]
    total = {name: sum(z.stats[name] for z in zones)
             for name in ("numa_hit", "numa_miss", "numa_foreign", "local_node", "other_node")}
    return (f"numa_hit {total['numa_hit']}\nnuma_miss {total['numa_miss']}\n"
            f"numa_foreign {total['numa_foreign']}\ninterleave_hit 0\n"
            f"local_node {total['local_node']}\nother_node {total['other_node']}\n")


def vmallocinfo(k: Kernel) -> str:
    """/proc/vmallocinfo (not in 2.6.18: 2.6.25, the caller 2.6.26, the node
    counts 2.6.28; docs/deviations.md) as 2.6.28 mm/vmalloc.c s_show prints it:
    `0x%p-0x%p %7ld` [caller] [` pages=%d`] [` vmalloc`] [` vpages`] [` N%u=%u`]."""
    out = []
    for v in k.vmlist:
        line = f"0x{v.addr:08x}-0x{v.addr + v.size:08x} {v.size:7d}"
        if v.caller:
            line += " " + v.caller
        if v.nr_pages:
            line += f" pages={v.nr_pages}"
        if v.flags & VM_IOREMAP:
            line += " ioremap"
        if v.flags & VM_ALLOC:
            line += " vmalloc"
        if v.flags & VM_MAP:
            line += " vmap"
        if v.flags & VM_USERMAP:
            line += " user"
        if v.flags & VM_VPAGES:
            line += " vpages"
        if k.numa and v.flags & VM_ALLOC and v.pages:
            counts: dict[int, int] = {}
            for pfn in v.pages:
                nid = k.zone_of(pfn).node.id
                counts[nid] = counts.get(nid, 0) + 1
            line += "".join(f" N{nid}={n}" for nid, n in sorted(counts.items()))
        out.append(line + "\n")
    return "".join(out)
