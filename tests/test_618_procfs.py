"""Linux 6.18 /proc renderers (allocator/linux618/procfs.py) against the captures
of a real 6.18 x86_64 kernel (tests/data/linux-6.18/) and the source's rules.

Field names, their order and the layout of every line come from the captures;
the values are worked out here from the rules of fs/proc/meminfo.c,
mm/vmstat.c, mm/show_mem.c, mm/page-writeback.c and arch/x86/mm/init.c
applied to the allocator's state (managed, free, watermarks, free lists).
"""
from __future__ import annotations

import re

import pytest

from allocator.linux618 import procfs
from allocator.linux618.gfp import GFP_KERNEL
from allocator.linux618.page_alloc import PageAllocator, alloc_pages, mod_node_page_state
from proc618_support import boot, capture

KB = 4                              # K(1): a 4 KiB page in kB


def shape(line: str) -> str:
    """A line with each number replaced by N: its layout without its values
    (for left-aligned numbers)."""
    return re.sub(r"\d+", "N", line)


def rshape(line: str) -> str:
    """A line with each number blanked but its last digit: the layout of
    right-aligned columns (`%6lu`, `%12lu`) without their values."""
    return re.sub(r"\d+", lambda m: " " * (len(m.group()) - 1) + "N", line)


@pytest.fixture(scope="module")
def small() -> PageAllocator:
    """64 MiB: DMA and DMA32 populated, Normal empty (the reference's table)."""
    return boot(64 << 20)


@pytest.fixture(scope="module")
def big() -> PageAllocator:
    """8 GiB: DMA, DMA32 (up to the 3 GiB PCI hole), Normal from 4 GiB."""
    return boot(8 << 30)


# -- /proc/meminfo -------------------------------------------------------------


def meminfo_rows(text: str) -> list[tuple[str, int, str]]:
    """(label, value, unit) per line; the layout of fs/proc/meminfo.c: a
    16-column label (`%-16s` via show_val_kb's padded labels) and `%8lu kB`,
    or the hugetlb counts `%5lu` after a 16+3-column label."""
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"(\S+:)( *)(\d+)( kB)?", line)
        assert m, line
        label, value, unit = m.group(1), m.group(3), m.group(4) or ""
        if unit:
            # the value's last digit in column 24 unless it is wider than 8
            assert len(line) - 3 == max(24, 16 + len(value)), line
        else:
            assert line.startswith(label.ljust(19)) and len(line) == max(24, 19 + len(value)), line
        rows.append((label[:-1], int(value), unit))
    return rows


def test_meminfo_names_order_and_layout_equal_the_capture(small: PageAllocator) -> None:
    real = meminfo_rows(capture("meminfo"))
    ours = meminfo_rows(procfs.meminfo(small))
    assert [(n, u) for n, _, u in ours] == [(n, u) for n, _, u in real]
    assert len(ours) == 54


def test_meminfo_values_from_the_state(small: PageAllocator) -> None:
    v = {n: val for n, val, _ in meminfo_rows(procfs.meminfo(small, vmalloc_nr_pages=5,
                                                             percpu_pages=3))}
    managed = sum(z.managed for z in small.zones)
    free = sum(z.free_pages for z in small.zones)
    assert v["MemTotal"] == managed * KB                     # totalram_pages = sum of managed
    assert v["MemFree"] == free * KB
    assert v["CommitLimit"] == managed * 50 // 100 * KB      # overcommit_ratio 50, no swap
    assert v["VmallocTotal"] == 34359738367                  # the capture's value: 32 TiB - 1 in kB
    assert v["VmallocUsed"] == 5 * KB and v["VmallocChunk"] == 0
    assert v["Percpu"] == 3 * KB
    assert v["Hugepagesize"] == 2048
    assert all(v[n] == 0 for n in ("Buffers", "Cached", "SwapTotal", "Slab", "HugePages_Total",
                                   "Bounce", "NFS_Unstable", "Committed_AS"))


def totalreserve_by_hand(pa: PageAllocator) -> int:
    """calculate_totalreserve_pages: per zone min(managed, max(lowmem_reserve[idx..]) + high)."""
    return sum(min(z.managed, max([0] + z.lowmem_reserve[z.idx:]) + z.watermark[2] + z.watermark_boost)
               for z in pa.zones)


def test_meminfo_slab_lines_and_mem_available() -> None:
    pa = boot(64 << 20)
    mod_node_page_state(pa, 0, "nr_slab_reclaimable_b", 40 * 4096)
    mod_node_page_state(pa, 0, "nr_slab_unreclaimable_b", 7 * 4096)
    v = {n: val for n, val, _ in meminfo_rows(procfs.meminfo(pa))}
    assert (v["SReclaimable"], v["SUnreclaim"], v["Slab"], v["KReclaimable"]) == (160, 28, 188, 160)
    # si_mem_available: free - totalreserve + reclaimable - min(reclaimable / 2, sum of low)
    assert pa.totalreserve_pages == totalreserve_by_hand(pa)
    free = sum(z.free_pages for z in pa.zones)
    wmark_low = sum(z.watermark[1] + z.watermark_boost for z in pa.zones)   # for_each_zone
    reclaimable = 40 - min(40 // 2, wmark_low)
    assert v["MemAvailable"] == max(0, free - totalreserve_by_hand(pa) + reclaimable) * KB


@pytest.mark.parametrize(("mem", "direct_map"), [
    # ISA [0, 1M) and [1M, 2M) in 4k pages, 2M pages up to 64M
    (64 << 20, (2048, 31 * 2048, 0)),
    # [0, 3G) and [4G, 9G): 4k up to 2M, 2M pages up to 1G (511), 1G pages 1-3G and 4-9G (7)
    (8 << 30, (2048, 511 * 2048, 7 << 20)),
])
def test_meminfo_direct_map(mem: int, direct_map: tuple[int, int, int]) -> None:
    v = {n: val for n, val, _ in meminfo_rows(procfs.meminfo(boot(mem)))}
    assert (v["DirectMap4k"], v["DirectMap2M"], v["DirectMap1G"]) == direct_map


# -- /proc/vmstat ------------------------------------------------------------


def vmstat_rows(text: str) -> list[tuple[str, int]]:
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z0-9_]+) (\d+)", line)     # "%s %lu\n"
        assert m, line
        rows.append((m.group(1), int(m.group(2))))
    return rows


def test_vmstat_names_and_order_equal_the_capture(small: PageAllocator) -> None:
    real = [n for n, _ in vmstat_rows(capture("vmstat"))]
    ours = [n for n, _ in vmstat_rows(procfs.vmstat(small))]
    assert ours == real
    assert len(ours) == 192 and ours[-1] == "nr_unstable" and "nr_bounce" not in ours


def test_vmstat_values_from_the_state() -> None:
    pa = boot(64 << 20)
    pa.vm_events["pgpgin"] = 11           # counted in sectors, shown in kB
    pa.vm_events["pgalloc_dma32"] += 7
    v = dict(vmstat_rows(procfs.vmstat(pa)))
    assert v["nr_free_pages"] == sum(z.free_pages for z in pa.zones)
    # nr_free_pages_blocks: the free pages in buddies of pageblock order (9) or more
    assert v["nr_free_pages_blocks"] == sum(z.free_area[o].nr_free << o
                                            for z in pa.zones for o in (9, 10))
    assert v["pgpgin"] == 5
    assert v["pgalloc_dma32"] == pa.vm_events["pgalloc_dma32"]
    # 64 MiB is one 128 MiB section: 32768 struct pages of 64 bytes = 512 pages
    assert v["nr_memmap_boot_pages"] == 512 and v["nr_memmap_pages"] == 0
    # global_dirty_limits: dirtyable = free - totalreserve (+ no file pages) + 1;
    # thresh = (20 * 4096 / 100) * dirtyable / 4096, background with 10
    dirtyable = max(0, v["nr_free_pages"] - totalreserve_by_hand(pa)) + 1
    assert v["nr_dirty_threshold"] == 819 * dirtyable // 4096
    assert v["nr_dirty_background_threshold"] == 409 * dirtyable // 4096
    assert v["nr_unstable"] == 0


def test_vmstat_counts_an_allocation() -> None:
    pa = boot(64 << 20)
    before = dict(vmstat_rows(procfs.vmstat(pa)))
    assert alloc_pages(pa, GFP_KERNEL, 2) is not None
    after = dict(vmstat_rows(procfs.vmstat(pa)))
    # GFP_KERNEL on 64 MiB is served by DMA32 (Normal is empty): 1 << 2 pages
    assert after["pgalloc_dma32"] - before["pgalloc_dma32"] == 4
    assert after["nr_free_pages"] == sum(z.free_pages for z in pa.zones)


def test_vmstat_slab_items_are_pages() -> None:
    pa = boot(64 << 20)
    mod_node_page_state(pa, 0, "nr_slab_unreclaimable_b", 3 * 4096)
    v = dict(vmstat_rows(procfs.vmstat(pa)))
    assert (v["nr_slab_unreclaimable"], v["nr_slab_reclaimable"]) == (3, 0)


# -- /proc/zoneinfo ----------------------------------------------------------


def zone_blocks(text: str) -> dict[str, list[str]]:
    """zone name -> its lines (from its `Node N, zone NAME` header on)."""
    blocks: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        m = re.fullmatch(r"Node \d+, zone +(\S+)", line)
        if m:
            name = m.group(1)
            blocks[name] = []
        blocks[name].append(line)
    return blocks


@pytest.mark.parametrize("zone", ["DMA", "DMA32", "Normal", "Movable", "Device"])
def test_zoneinfo_layout_equals_the_capture(big: PageAllocator, zone: str) -> None:
    """Line for line (numbers aside): the per-node stats in the first populated
    zone (DMA), per zone its watermarks, counters and pagesets of both CPUs,
    the empty Movable and Device zones stopping after `protection:`."""
    real = zone_blocks(capture("zoneinfo"))[zone]
    ours = zone_blocks(procfs.zoneinfo(big))[zone]
    assert [shape(line) for line in ours] == [shape(line) for line in real]


def test_zoneinfo_empty_normal_zone_stops_after_protection(small: PageAllocator) -> None:
    ours = zone_blocks(procfs.zoneinfo(small))
    real = zone_blocks(capture("zoneinfo"))
    assert [shape(x) for x in ours["Normal"][1:]] == [shape(x) for x in real["Movable"][1:]]
    assert ours["Normal"][-1].strip().startswith("protection: (")
    assert list(ours) == ["DMA", "DMA32", "Normal", "Movable", "Device"]


def zone_values(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        m = re.fullmatch(r" *(pages free|vm stats threshold:|[a-z_]+[a-z0-9_]*:?) +(.*)", line)
        if m and m.group(1).rstrip(":") not in out:
            out[m.group(1).rstrip(":")] = m.group(2)
    return out


def test_zoneinfo_values_from_the_state(big: PageAllocator) -> None:
    blocks = zone_blocks(procfs.zoneinfo(big))
    for z in big.zones:
        v = zone_values(blocks[z.name])
        assert int(v["pages free"]) == z.free_pages
        assert [int(v[k]) for k in ("min", "low", "high", "promo")] == \
               [w + z.watermark_boost for w in z.watermark]
        assert (int(v["spanned"]), int(v["present"]), int(v["managed"])) == \
               (z.spanned, z.present, z.managed)
        assert v["protection"] == "(" + ", ".join(map(str, z.lowmem_reserve)) + ")"
        if not z.present:
            continue
        assert int(v["start_pfn"]) == z.start_pfn
        assert int(v["nr_free_pages"]) == z.free_pages
        # calculate_normal_threshold: min(125, 2 * fls(2 cpus) * (1 + fls(managed >> 15)))
        threshold = min(125, 2 * 2 * (1 + (z.managed >> 15).bit_length()))
        assert int(v["vm stats threshold"]) == threshold
        assert int(v["high_min"]) == z.pcp[0].high_min and int(v["batch"]) == z.pcp[0].batch
    dma32 = zone_values(blocks["DMA32"])
    assert int(dma32["vm stats threshold"]) == 24       # 778240 managed: as the capture's DMA32
    assert zone_values(blocks["DMA"])["vm stats threshold"] == "4"


def test_zoneinfo_per_node_stats_names_equal_the_capture(big: PageAllocator) -> None:
    def names(text: str) -> list[str]:
        lines = zone_blocks(text)["DMA"]
        i = lines.index("  per-node stats")
        out = []
        for line in lines[i + 1:]:
            if not line.startswith("      "):
                break
            out.append(line.split()[0])
        return out
    assert names(procfs.zoneinfo(big)) == names(capture("zoneinfo"))
    assert len(names(capture("zoneinfo"))) == 51


def test_zoneinfo_pagesets_are_each_cpus() -> None:
    """One pageset per online CPU, in CPU order, each its own pcp's fields."""
    pa = boot(64 << 20)
    dma32 = pa.zones[1]
    dma32.pcp[1].count, dma32.pcp[1].high = 5, 77
    lines = zone_blocks(procfs.zoneinfo(pa))["DMA32"]

    def field(name: str) -> list[int]:
        return [int(x.split()[-1]) for x in lines if x.strip().startswith(name + ":")]
    assert field("cpu") == [0, 1]
    assert field("count") == [dma32.pcp[0].count, 5]
    assert field("high") == [dma32.pcp[0].high, 77]
    assert field("high_max") == [dma32.pcp[0].high_max, dma32.pcp[1].high_max]


# -- /proc/buddyinfo, /proc/pagetypeinfo --------------------------------------------


def test_buddyinfo_layout_and_values(big: PageAllocator) -> None:
    real = capture("buddyinfo").splitlines()
    ours = procfs.buddyinfo(big).splitlines()
    assert [rshape(x) for x in ours] == [rshape(x) for x in real]   # DMA, DMA32, Normal
    for line, z in zip(ours, [z for z in big.zones if z.present], strict=True):
        assert line.startswith(f"Node 0, zone {z.name:>8} ")
        assert [int(x) for x in line.split()[4:]] == [z.free_area[o].nr_free for o in range(11)]


def test_pagetypeinfo_layout_equals_the_capture(big: PageAllocator) -> None:
    real = capture("pagetypeinfo").splitlines()
    ours = procfs.pagetypeinfo(big).splitlines()
    assert ours[:4] == real[:4]             # block order, pages per block, the orders header
    assert ours[4:] != real[4:]
    assert [rshape(x) for x in ours] == [rshape(x) for x in real]
    i = real.index("")
    assert ours[i + 1] == real[i + 1]       # "Number of blocks type     Unmovable ..."


def test_pagetypeinfo_values(big: PageAllocator) -> None:
    lines = procfs.pagetypeinfo(big).splitlines()
    names = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate")
    for z in (z for z in big.zones if z.present):
        for mt, name in enumerate(names):
            row = next(x for x in lines if x.startswith(f"Node    0, zone {z.name:>8}, type {name:>12} "))
            assert [int(x) for x in row.split()[6:]] == \
                   [len(z.free_area[o].free_list[mt]) for o in range(11)]
        row = next(x for x in lines if re.match(rf"Node 0, zone +{z.name} +\d", x))
        counts = [int(x) for x in row.split()[4:]]
        # one pageblock every 512 pfns from zone_start_pfn; all MIGRATE_MOVABLE at boot
        nblocks = len(range(z.start_pfn, z.start_pfn + z.spanned, 512))
        assert sum(counts) == nblocks
        assert counts[1] == nblocks
    dma = next(x for x in lines if re.match(r"Node 0, zone +DMA +\d", x))
    assert dma.split()[4:] == ["0", "8", "0", "0", "0"]     # 4095 pfns from pfn 1: 8 blocks


def test_pagetypeinfo_overflow_prefix() -> None:
    """A free list of 100000 or more blocks prints `>100000` (the walk stops there)."""
    pa = boot(64 << 20)
    z = pa.zones[1]
    fl = z.free_area[0].free_list[2]
    for pfn in range(100000):
        fl.add(10 ** 7 + pfn)      # the renderer only counts the list
    row = next(x for x in procfs.pagetypeinfo(pa).splitlines()
               if x.startswith("Node    0, zone    DMA32, type  Reclaimable "))
    assert row.split()[6] == ">100000"
    assert row.startswith("Node    0, zone    DMA32, type  Reclaimable >100000 ")
