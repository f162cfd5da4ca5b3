"""Renderers: the kernel's /proc and /sys texts, read from the live state.

Each function takes the Kernel and returns the whole file as str, in the format
the kernel prints (format strings cited per function). Nothing here changes state.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .page_alloc import Zone
from .physmem import PAGE_SHIFT
from .vmalloc import VM_ALLOC, VM_IOREMAP, VM_MAP, VM_USERMAP, VM_VPAGES

if TYPE_CHECKING:
    from .kernel import Kernel

# /proc/vmstat's pgalloc_* suffix per zone type
ZONE_VMSTAT_SUFFIX = ("dma", "normal", "high")


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
    for z in k.zones:
        out.append(f"Node {z.node.id}, zone {z.name:>8} "
                   + "".join(f"{len(a):6d} " for a in z.free_area) + "\n")
    return "".join(out)


def _kb(pages: int) -> int:
    return pages << (PAGE_SHIFT - 10)


def meminfo(k: Kernel) -> str:
    """/proc/meminfo (fs/proc/meminfo.c, 2.6.18 field set, CONFIG_HIGHMEM)."""
    total = k.totalram_pages
    free = k.nr_free_pages()
    high_total = k.totalhigh_pages
    high_free = sum(z.free_pages for z in k.zones if z.is_highmem)
    srecl = k.nr_slab_pages_reclaimable
    sunrecl = k.nr_slab_pages_unreclaimable
    vm_total, vm_used, vm_chunk = k.vmalloc_info()
    rows = [
        ("MemTotal", _kb(total)), ("MemFree", _kb(free)), ("Buffers", 0), ("Cached", 0),
        ("SwapCached", 0), ("Active", 0), ("Inactive", 0),
        ("HighTotal", _kb(high_total)), ("HighFree", _kb(high_free)),
        ("LowTotal", _kb(total - high_total)), ("LowFree", _kb(free - high_free)),
        ("SwapTotal", 0), ("SwapFree", 0), ("Dirty", 0), ("Writeback", 0),
        ("AnonPages", 0), ("Mapped", 0),
        ("Slab", _kb(srecl + sunrecl)), ("SReclaimable", _kb(srecl)), ("SUnreclaim", _kb(sunrecl)),
        ("PageTables", 0), ("NFS_Unstable", 0), ("Bounce", 0),
        ("CommitLimit", _kb(total // 2)), ("Committed_AS", 0),
        ("VmallocTotal", vm_total), ("VmallocUsed", vm_used), ("VmallocChunk", vm_chunk),
    ]
    return "".join(f"{name + ':':<16}{value:8d} kB\n" for name, value in rows)


def kmsg(k: Kernel) -> str:
    """The log as `<pri>[seconds] text` lines (printk with CONFIG_PRINTK_TIME)."""
    return "".join(f"<{r.level}>[{r.seconds:12.6f}] {r.text}\n" for r in k.log.records)


def zoneinfo(k: Kernel) -> str:
    """/proc/zoneinfo in the 2.6.18 layout (mm/vmstat.c zoneinfo_show)."""
    out = []
    for z in k.zones:
        out.append(f"Node {z.node.id}, zone {z.name:>8}")
        out.append(f"\n  pages free     {z.free_pages}"
                   f"\n        min      {z.pages_min}"
                   f"\n        low      {z.pages_low}"
                   f"\n        high     {z.pages_high}"
                   f"\n        active   0"
                   f"\n        inactive 0"
                   f"\n        scanned  0 (a: 0 i: 0)"
                   f"\n        spanned  {z.spanned}"
                   f"\n        present  {z.present}")
        for name, value in zone_vmstat(k, z):
            out.append(f"\n    {name:<12} {value}")
        out.append("\n        protection: (" + ", ".join(str(r) for r in z.lowmem_reserve) + ")")
        out.append("\n  pagesets")
        for cpu, pair in enumerate(z.pcp):
            for i, pcp in enumerate(pair):
                out.append(f"\n    cpu: {cpu} pcp: {i}"
                           f"\n              count: {len(pcp.pages)}"
                           f"\n              high:  {pcp.high}"
                           f"\n              batch: {pcp.batch}")
        out.append(f"\n  all_unreclaimable: 0"
                   f"\n  prev_priority:     12"
                   f"\n  start_pfn:         {z.start_pfn}\n")
    return "".join(out)


def zone_vmstat(k: Kernel, z: Zone) -> list[tuple[str, int]]:
    st = z.stats
    return [("nr_free_pages", z.free_pages), ("nr_pcp_pages", z.pcp_count()),
            ("numa_hit", st["numa_hit"]), ("numa_miss", st["numa_miss"]),
            ("numa_foreign", st["numa_foreign"]), ("local_node", st["local_node"]),
            ("other_node", st["other_node"])]


def vmstat(k: Kernel) -> str:
    """/proc/vmstat: `name value` lines (2.6 `"%s %lu\\n"`)."""
    rows = [("nr_free_pages", k.nr_free_pages()),
            ("nr_slab_reclaimable", k.nr_slab_pages_reclaimable),
            ("nr_slab_unreclaimable", k.nr_slab_pages_unreclaimable)]
    for zspan, suffix in zip(k.version.arch.zones, ZONE_VMSTAT_SUFFIX):
        zname = zspan.name
        rows.append((f"pgalloc_{suffix}", sum(z.stats["pgalloc"] for z in k.zones if z.name == zname)))
    rows.append(("pgalloc_hot", sum(z.stats["pgalloc_hot"] for z in k.zones)))
    rows.append(("pgalloc_cold", sum(z.stats["pgalloc_cold"] for z in k.zones)))
    for name in ("numa_hit", "numa_miss", "numa_foreign", "local_node", "other_node"):
        rows.append((name, sum(z.stats[name] for z in k.zones)))
    rows += [(name, value) for name, value in k.vm_events.items()]
    return "".join(f"{name} {value}\n" for name, value in rows)


def numastat(k: Kernel, node_id: int) -> str:
    """sys/devices/system/node/nodeN/numastat (drivers/base/node.c node_read_numastat)."""
    zones = [z for z in k.zones if z.node.id == node_id]
    total = {name: sum(z.stats[name] for z in zones)
             for name in ("numa_hit", "numa_miss", "numa_foreign", "local_node", "other_node")}
    return (f"numa_hit {total['numa_hit']}\nnuma_miss {total['numa_miss']}\n"
            f"numa_foreign {total['numa_foreign']}\ninterleave_hit 0\n"
            f"local_node {total['local_node']}\nother_node {total['other_node']}\n")


def vmallocinfo(k: Kernel) -> str:
    """/proc/vmallocinfo as 2.6.2x mm/vmalloc.c s_show prints it:
    `0x%p-0x%p %7ld` [caller] [` pages=%d`] [` vmalloc`] [` vpages`] [` N<node>=<n>`]."""
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
