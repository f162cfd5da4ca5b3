"""The memory lines of a 6.18 x86_64 boot log, from the simulated machine.

In the order a 6.18 boot prints them (tests/data/linux-6.18/dmesg-boot-memory):

  e820__print_table          arch/x86/kernel/e820.c: "BIOS-provided physical RAM map:",
                             "BIOS-e820: [mem %#018Lx-%#018Lx] usable|reserved"
  dummy_numa_init            arch/x86/mm/numa.c: "No NUMA configuration found",
                             "Faking a node at [mem 0-PFN_PHYS(max_pfn)-1]";
                             more nodes: mm/numa_emulation.c emu_setup_memblk's
                             "Faking node %d at [mem ...] (%LuMB)" (numa=fake=N)
  free_area_init             mm/mm_init.c: "Zone ranges:", "  %-8s [mem ...]" or
                             "empty" (arch_zone_{lowest,highest}_possible_pfn, Movable
                             skipped), "Movable zone start for each node", "Early
                             memory node ranges", "  node %3d: [mem ...]" per memblock
                             range, "Initmem setup node %d [mem ...]" per node
  memmap_init                mm/mm_init.c init_unavailable_range: "On node %d, zone
                             %s: %lld pages in unavailable ranges" for holes in
                             present sections (pfn_valid on SPARSEMEM_VMEMMAP)
  build_all_zonelists        mm/page_alloc.c: "Fallback order for Node %d: ",
                             "Built %u zonelists, mobility grouping %s.  Total pages:
                             %ld" (nr_free_zone_pages at boot: managed = present,
                             watermarks 0), "Policy zone: %s"
  mem_init_print_info        mm/mm_init.c: "Memory: %luK/%luK available (...)"

The BIOS map is Firecracker's (the live capture): RAM [0, 0x9fc00), reserved
[0x9fc00, 1 MiB), RAM from 1 MiB below the PCI hole, reserved [0xeec00000,
0xfec00000), RAM from 4 GiB. The kernel image sizes are the live kernel's.
"""
from __future__ import annotations

from typing import Any

from ..printk import KERN_INFO, KernelLog

# arch/x86/kernel/e820.c the BIOS map's low RAM end (E820 entry 0 is 0-0x9fbff)
E820_LOW_END = 0x9FC00
# Firecracker's reserved e820 entry below 4 GiB (PCI ECAM and MMIO), from the capture
E820_FW_RESERVED = (0xEEC00000, 0xFEC00000)
# mem_init_print_info's kernel image figures: the live 6.18.44 kernel's (capture);
# the simulator has no kernel image to measure
KERNEL_CODE_K, RWDATA_K, RODATA_K, INIT_K, BSS_K = 18908, 2544, 10292, 3732, 1168
SECTION_SIZE_BITS = 27                   # x86_64 SPARSEMEM
MIGRATE_TYPES = 6                        # enum migratetype with CMA off, MEMORY_ISOLATION on
PAGEBLOCK_NR_PAGES = 512


def _mem(lo: int, hi: int) -> str:
    """[mem %#018Lx-%#018Lx] of the byte range [lo, hi)."""
    return f"[mem {lo:#018x}-{hi - 1:#018x}]"


def e820_table(pa: Any) -> list[tuple[int, int, str]]:
    """The BIOS-provided e820 entries (start, end bytes, type) for the machine's RAM."""
    shift = pa.page_shift
    ram = pa.e820
    low_end = max((b for a, b in ram if b << shift <= pa.arch.pci_hole[0]), default=0) << shift
    out = [(0, E820_LOW_END, "usable"), (E820_LOW_END, 0x100000, "reserved")]
    if low_end > 0x100000:
        out.append((0x100000, low_end, "usable"))
    out.append((E820_FW_RESERVED[0], E820_FW_RESERVED[1], "reserved"))
    hi = [(a << shift, b << shift) for a, b in ram if a << shift >= pa.arch.pci_hole[1]]
    out += [(a, b, "usable") for a, b in hi]
    return out


def memblock_ranges(pa: Any) -> list[tuple[int, int, int]]:
    """for_each_mem_pfn_range: the memblock memory (pa.e820, pfns) split at the
    node boundaries, with each part's node id."""
    out = []
    for node in pa.nodes:
        lo, hi = node.start_pfn, node.start_pfn + node.spanned
        out += [(max(a, lo), min(b, hi), node.id) for a, b in pa.e820 if min(b, hi) > max(a, lo)]
    return sorted(out)


def unavailable_ranges(pa: Any) -> list[tuple[int, str, int]]:
    """memmap_init's init_unavailable_range calls that count pages: (node, zone
    name, pages). A hole page counts where its section holds memory
    (pfn_valid: early sections are valid whole)."""
    ranges = memblock_ranges(pa)
    sec = SECTION_SIZE_BITS - pa.page_shift
    present = {s for a, b, _ in ranges for s in range(a >> sec, ((b - 1) >> sec) + 1)}

    def count(a: int, b: int) -> int:
        return sum(min(b, (s + 1) << sec) - max(a, s << sec)
                   for s in range(a >> sec, ((b - 1) >> sec) + 1) if s in present) if b > a else 0
    out: list[tuple[int, str, int]] = []
    hole = 0
    zone_name, nid = "DMA", 0
    for start, end, nid in ranges:
        for zone in pa.nodes[nid].node_zones:
            if not zone.present:
                continue
            s = min(max(start, zone.start_pfn), zone.end_pfn)
            e = min(max(end, zone.start_pfn), zone.end_pfn)
            if s >= e:
                continue
            if hole < s and count(hole, s):
                out.append((nid, zone.name, count(hole, s)))
            hole = e
            zone_name = zone.name
    tail = (((ranges[-1][1] - 1) >> sec) + 1) << sec    # round_up(end_pfn, PAGES_PER_SECTION)
    if hole < tail and count(hole, tail):
        out.append((nid, zone_name, count(hole, tail)))
    return out


def zone_ranges(pa: Any) -> list[tuple[str, int, int]]:
    """free_area_init's arch_zone_{lowest,highest}_possible_pfn for every zone but
    Movable (x86 zone_sizes_init: DMA, DMA32 capped at max_low_pfn = max_pfn,
    Normal = max_pfn; Device's max_zone_pfn is 0)."""
    start = pa.e820[0][0]
    max_pfn = pa.e820[-1][1]
    shift = pa.page_shift
    out = []
    for zspan in pa.arch.zones:
        if zspan.name == "Movable":
            continue
        limit = 0 if zspan.name == "Device" else min(zspan.hi >> shift, max_pfn)
        end = max(limit, start)
        out.append((zspan.name, start, end))
        start = end
    return out


def fallback_order(pa: Any, node: Any) -> list[int]:
    """build_zonelists' node_order: the local node, then the others (all at
    REMOTE_DISTANCE here) in node order after it."""
    ids = [n.id for n in pa.nodes]
    return [node.id] + ids[node.id + 1:] + ids[:node.id]


def vm_total_pages(pa: Any) -> int:
    """build_all_zonelists' nr_free_zone_pages(gfp_zone(GFP_HIGHUSER_MOVABLE)) at
    boot: free_area_init_core's zone_init_internals set managed = present and the
    watermarks are still 0, so it is the present pages of node 0's zonelist
    (every zone of every node)."""
    return sum(z.present for z in pa.zones)


def print_memory_map(pa: Any, log: KernelLog) -> None:
    """The memory lines up to build_all_zonelists, in boot order."""
    shift = pa.page_shift
    p = log.printk
    p(KERN_INFO, "BIOS-provided physical RAM map:")
    for a, b, kind in e820_table(pa):
        p(KERN_INFO, f"BIOS-e820: {_mem(a, b)} {kind}")
    max_pfn = pa.e820[-1][1]
    p(KERN_INFO, "No NUMA configuration found")
    p(KERN_INFO, f"Faking a node at {_mem(0, max_pfn << shift)}")
    if len(pa.nodes) > 1:
        for i, node in enumerate(pa.nodes):
            lo = 0 if i == 0 else node.start_pfn << shift
            hi = ((pa.nodes[i + 1].start_pfn if i + 1 < len(pa.nodes) else max_pfn) << shift)
            p(KERN_INFO, f"Faking node {node.id} at {_mem(lo, hi)} ({(hi - lo) >> 20}MB)")
    p(KERN_INFO, "Zone ranges:")
    for name, lo, hi in zone_ranges(pa):
        p(KERN_INFO, f"  {name:<8} " + ("empty" if lo == hi else _mem(lo << shift, hi << shift)))
    p(KERN_INFO, "Movable zone start for each node")
    p(KERN_INFO, "Early memory node ranges")
    for a, b, nid in memblock_ranges(pa):
        p(KERN_INFO, f"  node {nid:3d}: {_mem(a << shift, b << shift)}")
    for node in pa.nodes:
        p(KERN_INFO, f"Initmem setup node {node.id} "
                     f"{_mem(node.start_pfn << shift, (node.start_pfn + node.spanned) << shift)}")
    for nid, zone, pages in unavailable_ranges(pa):
        p(KERN_INFO, f"On node {nid}, zone {zone}: {pages} pages in unavailable ranges")
    for node in pa.nodes:
        p(KERN_INFO, f"Fallback order for Node {node.id}: " + "".join(f"{n} " for n in fallback_order(pa, node)))
    total = vm_total_pages(pa)
    grouping = "off" if total < PAGEBLOCK_NR_PAGES * MIGRATE_TYPES else "on"
    p(KERN_INFO, f"Built {len(pa.nodes)} zonelists, mobility grouping {grouping}.  Total pages: {total}")
    policy = max((z for z in pa.zones if z.present and z.name in ("DMA", "DMA32", "Normal")),
                 key=lambda z: z.idx)
    p(KERN_INFO, f"Policy zone: {policy.name}")


def mem_init_print_info(pa: Any, log: KernelLog, nr_free_pages: int) -> None:
    """mm/mm_init.c mem_init_print_info: free/physpages (Σ present), the kernel
    image (the live kernel's sizes), reserved = physpages - totalram_pages
    (CMA off: 0K cma-reserved)."""
    k = pa.arch.page_size >> 10
    physpages = sum(n.present for n in pa.nodes)
    log.printk(KERN_INFO, f"Memory: {nr_free_pages * k}K/{physpages * k}K available ({KERNEL_CODE_K}K kernel code,"
                          f" {RWDATA_K}K rwdata, {RODATA_K}K rodata, {INIT_K}K init, {BSS_K}K bss,"
                          f" {(physpages - pa.totalram_pages) * k}K reserved, 0K cma-reserved)")
