"""/proc/meminfo, /proc/vmstat and /proc/zoneinfo against the 2.6.18 source.

Every expected name, label, order and format below is transcribed from
rocklee104/linux-2.6.18 at 4ba3a12d (fs/proc/proc_misc.c meminfo_read_proc,
mm/vmstat.c vmstat_text / zoneinfo_show / calculate_threshold,
include/linux/mmzone.h, mm/page_alloc.c setup_per_zone_lowmem_reserve), not
taken from the simulator's renderers.
"""
from __future__ import annotations

import re

import pytest

from allocator import gfp as G
from allocator import procfs

# fs/proc/proc_misc.c meminfo_read_proc (2.6.18): the format string, line by line.
MEMINFO_FORMAT = (
    "MemTotal:     %8lu kB\n"
    "MemFree:      %8lu kB\n"
    "Buffers:      %8lu kB\n"
    "Cached:       %8lu kB\n"
    "SwapCached:   %8lu kB\n"
    "Active:       %8lu kB\n"
    "Inactive:     %8lu kB\n"
    "HighTotal:    %8lu kB\n"
    "HighFree:     %8lu kB\n"
    "LowTotal:     %8lu kB\n"
    "LowFree:      %8lu kB\n"
    "SwapTotal:    %8lu kB\n"
    "SwapFree:     %8lu kB\n"
    "Dirty:        %8lu kB\n"
    "Writeback:    %8lu kB\n"
    "AnonPages:    %8lu kB\n"
    "Mapped:       %8lu kB\n"
    "Slab:         %8lu kB\n"
    "PageTables:   %8lu kB\n"
    "NFS_Unstable: %8lu kB\n"
    "Bounce:       %8lu kB\n"
    "CommitLimit:  %8lu kB\n"
    "Committed_AS: %8lu kB\n"
    "VmallocTotal: %8lu kB\n"
    "VmallocUsed:  %8lu kB\n"
    "VmallocChunk: %8lu kB\n"
)
# hugetlb_report_meminfo is `0` (prints nothing) without CONFIG_HUGETLB_PAGE,
# which arch/i386/defconfig of 2.6.18 leaves unset.

# mm/vmstat.c vmstat_text (2.6.18), in order.
ZONE_ITEMS = ["nr_anon_pages", "nr_mapped", "nr_file_pages", "nr_slab", "nr_page_table_pages",
              "nr_dirty", "nr_writeback", "nr_unstable", "nr_bounce"]
NUMA_ITEMS = ["numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local", "numa_other"]
EVENT_ITEMS = [
    "pgpgin", "pgpgout", "pswpin", "pswpout",
    "pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_high",
    "pgfree", "pgactivate", "pgdeactivate",
    "pgfault", "pgmajfault",
    "pgrefill_dma", "pgrefill_dma32", "pgrefill_normal", "pgrefill_high",
    "pgsteal_dma", "pgsteal_dma32", "pgsteal_normal", "pgsteal_high",
    "pgscan_kswapd_dma", "pgscan_kswapd_dma32", "pgscan_kswapd_normal", "pgscan_kswapd_high",
    "pgscan_direct_dma", "pgscan_direct_dma32", "pgscan_direct_normal", "pgscan_direct_high",
    "pginodesteal", "slabs_scanned", "kswapd_steal", "kswapd_inodesteal", "pageoutrun",
    "allocstall",
    "pgrotated",
]
# counters of later kernels (or of the simulator only) that 2.6.18 does not print
NOT_IN_2618 = ["nr_free_pages", "pgalloc_hot", "pgalloc_cold", "local_node", "other_node",
               "pgalloc_fail", "drop_slab", "nr_slab_reclaimable", "nr_slab_unreclaimable",
               "nr_pcp_pages"]

# include/linux/mmzone.h: ZONE_DMA 0, ZONE_DMA32 1, ZONE_NORMAL 2, ZONE_HIGHMEM 3
ZONE_IDX = {"DMA": 0, "DMA32": 1, "Normal": 2, "HighMem": 3}
# mm/page_alloc.c: int sysctl_lowmem_reserve_ratio[MAX_NR_ZONES-1] = { 256, 256, 32 };
LOWMEM_RESERVE_RATIO = [256, 256, 32]


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def test_meminfo_is_meminfo_read_procs_lines_in_its_order(kernel):
    k = kernel(mem=64 << 20)
    text = procfs.meminfo(k)
    fmt_lines = MEMINFO_FORMAT.splitlines()
    got = lines_of(text)
    assert len(got) == len(fmt_lines)
    for fmt, line in zip(fmt_lines, got):
        label = fmt[:fmt.index("%")]
        assert len(label) == 14 and line.startswith(label), (fmt, line)
        assert re.fullmatch(r"[ \d]{7}\d kB", line[14:]), line  # %8lu kB
    assert "SReclaimable" not in text and "SUnreclaim" not in text and "HugePages" not in text


def test_meminfo_values_follow_meminfo_read_proc(kernel):
    k = kernel(mem=64 << 20)
    k.kmalloc(3000, G.GFP_KERNEL)
    k.alloc_pages(G.GFP_KERNEL, 2)
    rows = {line[:13].rstrip(": "): int(line[14:].split()[0]) for line in lines_of(procfs.meminfo(k))}
    total = k.totalram_pages
    # K(x) = x << (PAGE_SHIFT - 10)
    assert rows["MemTotal"] == total * 4
    assert rows["MemFree"] == k.nr_free_pages() * 4
    assert rows["Slab"] == k.nr_slab_pages() * 4 > 0          # K(global_page_state(NR_SLAB))
    # allowed = (totalram_pages - hugetlb_total_pages()) * sysctl_overcommit_ratio(50) / 100
    #           + total_swap_pages (0)
    assert rows["CommitLimit"] == (total * 50 // 100) * 4
    assert rows["HighTotal"] == 0 and rows["LowTotal"] == rows["MemTotal"]
    for zero in ("Buffers", "Cached", "SwapCached", "SwapTotal", "SwapFree", "Dirty", "Writeback",
                 "AnonPages", "Mapped", "PageTables", "NFS_Unstable", "Bounce", "Committed_AS"):
        assert rows[zero] == 0, zero


def test_vmstat_is_vmstat_text_exactly_on_a_non_numa_kernel(kernel):
    k = kernel(mem=64 << 20)
    got = [line.split(" ")[0] for line in lines_of(procfs.vmstat(k))]
    assert got == ZONE_ITEMS + EVENT_ITEMS  # no CONFIG_NUMA items on one node
    for line in lines_of(procfs.vmstat(k)):
        assert re.fullmatch(r"[a-z0-9_]+ \d+", line), line  # "%s %lu\n"
    assert not set(got) & set(NOT_IN_2618)


def test_vmstat_has_the_numa_items_after_the_zone_items_on_a_numa_kernel(kernel):
    k = kernel(mem=64 << 20, nodes=2, cpus=2)
    got = [line.split(" ")[0] for line in lines_of(procfs.vmstat(k))]
    assert got == ZONE_ITEMS + NUMA_ITEMS + EVENT_ITEMS


def test_vmstat_counts_pgalloc_in_pages_per_zone_type_and_nr_slab(kernel):
    k = kernel(mem=1 << 30)
    before = dict(line.split() for line in lines_of(procfs.vmstat(k)))
    k.alloc_pages(G.GFP_KERNEL | G.__GFP_DMA, 3)      # __count_zone_vm_events(PGALLOC, zone, 1 << order)
    k.alloc_pages(G.GFP_HIGHUSER, 1)
    after = dict(line.split() for line in lines_of(procfs.vmstat(k)))
    assert int(after["pgalloc_dma"]) - int(before["pgalloc_dma"]) == 8
    assert int(after["pgalloc_high"]) - int(before["pgalloc_high"]) == 2
    assert after["pgalloc_dma32"] == "0"              # i386: ZONE_DMA32 is empty
    assert int(after["nr_slab"]) == k.nr_slab_pages()


def fls(x: int) -> int:
    return x.bit_length()


def expected_lowmem_reserve(present: dict[int, int]) -> dict[int, list[int]]:
    """setup_per_zone_lowmem_reserve (2.6.18) for one node, all 4 zone slots."""
    reserve = {j: [0] * 4 for j in range(4)}
    for j in range(4):
        present_pages = present.get(j, 0)
        reserve[j][j] = 0
        for idx in range(j - 1, -1, -1):
            reserve[idx][j] = present_pages // LOWMEM_RESERVE_RATIO[idx]
            present_pages += present.get(idx, 0)
    return reserve


def zoneinfo_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("Node "):
            blocks.append([])
        blocks[-1].append(line)
    return blocks


@pytest.mark.parametrize("mem", [64 << 20, 1 << 30])
def test_zoneinfo_is_zoneinfo_shows_layout(kernel, mem):
    k = kernel(mem=mem, cpus=2)
    k.set_current(0)                                   # CPU 0
    pfn = k.alloc_pages(G.GFP_KERNEL, 0)
    k.free_pages_pfn(pfn, 0)                           # lands on CPU 0's hot list
    k.kmalloc(100, G.GFP_KERNEL)
    zones = [z for z in k.zones if z.present]
    present = {ZONE_IDX[z.name]: z.present for z in zones}
    reserve = expected_lowmem_reserve(present)
    blocks = zoneinfo_blocks(procfs.zoneinfo(k))
    assert [b[0] for b in blocks] == [f"Node 0, zone {z.name:>8}" for z in zones]  # "Node %d, zone %8s"
    for z, block in zip(zones, blocks):
        expect = [
            f"Node 0, zone {z.name:>8}",
            f"  pages free     {z.free_pages}",
            f"        min      {z.pages_min}",
            f"        low      {z.pages_low}",
            f"        high     {z.pages_high}",
            "        active   0",
            "        inactive 0",
            "        scanned  0 (a: 0 i: 0)",
            f"        spanned  {z.spanned}",
            f"        present  {z.present}",
        ]
        slab = sum(1 for o in k.mem_map[z.start_pfn:z.start_pfn + z.spanned]
                   if o is not None and o.cache is not None)
        for name in ZONE_ITEMS:                        # "\n    %-12s %lu"
            expect.append(f"    {name:<12} {slab if name == 'nr_slab' else 0}")
        expect.append("        protection: (" + ", ".join(map(str, reserve[ZONE_IDX[z.name]])) + ")")
        expect.append("  pagesets")
        threshold = min(125, 2 * fls(2) * (1 + fls(z.present >> (27 - 12))))
        for cpu in range(2):
            hot, cold = z.pcp[cpu]
            if not hot.pages and not cold.pages:
                continue                               # both counts 0: the CPU is skipped
            for j, pcp in enumerate((hot, cold)):
                expect += [f"    cpu: {cpu} pcp: {j}",
                           f"              count: {len(pcp.pages)}",
                           f"              high:  {pcp.high}",
                           f"              batch: {pcp.batch}"]
            expect.append(f"  vm stats threshold: {threshold}")
        expect += ["  all_unreclaimable: 0",
                   "  prev_priority:     12",            # DEF_PRIORITY (free_area_init_core)
                   "  temp_priority:     12",
                   f"  start_pfn:         {z.start_pfn}"]
        assert block == expect
    # the freed page's zone shows CPU 0 only, with both its lists
    text = procfs.zoneinfo(k)
    assert "    cpu: 0 pcp: 0" in text and "    cpu: 0 pcp: 1" in text
    assert "    cpu: 1 pcp:" not in text
    assert sum(int(line.split()[1]) for line in text.splitlines()
               if line.startswith("    nr_slab ")) == k.nr_slab_pages()


def test_zoneinfo_protection_has_four_entries_with_dma32_empty(kernel):
    k = kernel(mem=1 << 30)
    text = procfs.zoneinfo(k)
    prot = [line for line in text.splitlines() if "protection:" in line]
    assert len(prot) == 3                              # DMA32 is not populated: not printed
    for line in prot:
        values = [int(v) for v in line.split("(")[1].rstrip(")").split(", ")]
        assert len(values) == 4 and values[1] == 0     # MAX_NR_ZONES = 4; DMA32's slot
    dma = next(z for z in k.zones if z.name == "DMA")
    normal = next(z for z in k.zones if z.name == "Normal")
    high = next(z for z in k.zones if z.name == "HighMem")
    assert prot[0].endswith(f"(0, 0, {normal.present // 256}, {(high.present + normal.present) // 256})")
    assert prot[1].endswith(f"(0, 0, 0, {high.present // 32})")
    assert prot[2].endswith("(0, 0, 0, 0)")
    assert dma.present


def test_zoneinfo_vm_stats_threshold_follows_calculate_threshold(kernel):
    # 1 GiB, 2 CPUs: Normal has 225280 pages = 6 units of 128 MB -> fls 3:
    # 2 * fls(2) * (1 + 3) = 16 (the "16 2 2 0.9-1 GB 4" row of the table is fls(mem+1))
    k = kernel(mem=1 << 30, cpus=2)
    k.set_current(0)
    pfn = k.alloc_pages(G.GFP_KERNEL, 0)
    k.free_pages_pfn(pfn, 0)
    text = procfs.zoneinfo(k)
    normal = text[text.index("zone   Normal"):]
    normal = normal[:normal.index("start_pfn")]
    assert "  vm stats threshold: 16" in normal


def test_zoneinfo_on_a_numa_kernel_lists_the_numa_counters(kernel):
    k = kernel(mem=64 << 20, nodes=2, cpus=2)
    k.alloc_pages(G.GFP_KERNEL, 0)
    block = zoneinfo_blocks(procfs.zoneinfo(k))[0]
    names = [line.split()[0] for line in block[10:10 + len(ZONE_ITEMS) + len(NUMA_ITEMS)]]
    assert names == ZONE_ITEMS + NUMA_ITEMS


def test_the_simulators_own_counters_are_in_sim_vmstat_not_in_proc_vmstat(kernel):
    k = kernel(mem=64 << 20)
    k.alloc_pages(G.GFP_KERNEL | G.__GFP_COLD, 0)
    k.drop_caches(3)
    rows = dict(line.split() for line in lines_of(procfs.sim_vmstat(k)))
    assert int(rows["pgalloc_cold"]) == 1 and int(rows["drop_slab"]) == 1
    assert int(rows["nr_free_pages"]) == k.nr_free_pages()
    assert "pgalloc_cold" not in procfs.vmstat(k) and "drop_slab" not in procfs.vmstat(k)
