"""Zones, watermarks and the buddy allocator, against 2.6 mm/page_alloc.c.

Expected values are worked out here from the kernel's formulas and the PC layout
(pfn 0 reserved for the BIOS, the 640 KiB..1 MiB e820 hole, mem_map of 32-byte
struct pages placed at 16 MiB), never by calling the allocator's own helpers.
"""
from __future__ import annotations

import math

import pytest

from allocator import gfp as G
from allocator.page_alloc import FREE, PAGES, PCP

PAGE = 4096
DMA_PAGES = (16 << 20) // PAGE            # 4096
HIGHMEM_PFN = (896 << 20) // PAGE         # 229376
E820_HOLE = 0x100 - 0x9F                  # 97 frames between 636 KiB and 1 MiB


@pytest.fixture
def k64(kernel):
    return kernel(mem=64 << 20, cpus=1)


def zone_by_name(k, name, node=0):
    for z in k.zones:
        if z.name == name and z.node.id == node:
            return z
    raise LookupError(name)


def free_lists(k):
    """Every zone's free lists as sets, so the order inside a list does not matter."""
    return {(z.node.id, z.name): [set(area) for area in z.free_area] for z in k.zones}


def expected_watermarks(zones):
    """2.6 init_per_zone_pages_min + setup_per_zone_pages_min, from
    [(is_highmem, present, free_at_boot)]: nr_free_buffer_pages() at boot sums present pages."""
    lowmem_kbytes = sum(present for high, present, _ in zones if not high) * 4
    min_free_kbytes = max(128, min(65536, math.isqrt(lowmem_kbytes * 16)))
    pages_min = min_free_kbytes >> 2
    lowmem_pages = sum(present for high, present, _ in zones if not high)
    marks = []
    for high, present, _ in zones:
        tmp = pages_min * present // lowmem_pages
        zmin = max(32, min(128, present // 1024)) if high else tmp
        marks.append((zmin, zmin + tmp // 4, zmin + tmp // 2))
    return min_free_kbytes, marks


def exhaust(k, gfp, order=0):
    """Allocate until the allocator says no; return the pfns."""
    got = []
    while (pfn := k.alloc_pages(gfp | G.__GFP_NOWARN, order)) is not None:
        got.append(pfn)
    return got


# --------------------------------------------------------------------------- zones


def test_zones_for_64m_are_dma_and_normal_without_highmem(k64):
    assert [(z.name, z.start_pfn, z.spanned) for z in k64.zones] == [
        ("DMA", 0, DMA_PAGES), ("Normal", DMA_PAGES, (64 << 20) // PAGE - DMA_PAGES)]
    dma, normal = k64.zones
    # DMA: i386 zone_sizes_init passes no holes: the e820 hole and pfn 0 are
    # present but reserved
    assert dma.present == DMA_PAGES == 4096
    assert dma.managed == DMA_PAGES - E820_HOLE - 1 == 3998
    # Normal: mem_map (16384 pages * 32 bytes = 128 pages) sits at 16 MiB
    assert normal.present == 12288
    assert normal.managed == 12288 - 128
    assert k64.mem_map[DMA_PAGES] is not FREE and k64.mem_map[DMA_PAGES + 128] is not k64.mem_map[DMA_PAGES]


def test_zones_for_1g_have_highmem_above_896m(kernel):
    k = kernel(mem=1 << 30)
    assert [(z.name, z.start_pfn, z.spanned, z.present) for z in k.zones] == [
        ("DMA", 0, DMA_PAGES, 4096),
        ("Normal", DMA_PAGES, HIGHMEM_PFN - DMA_PAGES, HIGHMEM_PFN - DMA_PAGES),
        ("HighMem", HIGHMEM_PFN, 262144 - HIGHMEM_PFN, 32768)]
    assert [z.managed for z in k.zones] == [3998, 225280 - 262144 * 32 // PAGE, 32768]


def test_zones_for_4g_put_three_quarters_in_highmem(kernel):
    k = kernel(mem=4 << 30)
    dma, normal, high = k.zones
    assert (high.start_pfn, high.spanned) == (HIGHMEM_PFN, (4 << 30) // PAGE - HIGHMEM_PFN)
    assert normal.managed == 225280 - (1 << 20) * 32 // PAGE  # 8192 pages of mem_map
    assert k.totalhigh_pages == 819200


@pytest.mark.parametrize("mem", [8 << 20, 16 << 20])
def test_zones_that_would_be_empty_are_absent(mem, kernel):
    k = kernel(mem=mem)
    assert [z.name for z in k.zones] == ["DMA"]
    # no Normal zone: mem_map goes at 1 MiB, right after the hole
    dma = k.zones[0]
    map_pages = (mem // PAGE) * 32 // PAGE
    assert dma.managed == mem // PAGE - E820_HOLE - 1 - map_pages
    assert k.mem_map[0x100] is not FREE and k.mem_map[0x100 + map_pages] is FREE


def test_nodes_split_memory_evenly_and_only_node_0_has_dma(kernel):
    k = kernel(mem=1 << 30, nodes=2, cpus=2)
    half = (512 << 20) // PAGE
    assert [(z.node.id, z.name, z.start_pfn, z.spanned) for z in k.zones] == [
        (0, "DMA", 0, DMA_PAGES), (0, "Normal", DMA_PAGES, half - DMA_PAGES),
        (1, "Normal", half, HIGHMEM_PFN - half), (1, "HighMem", HIGHMEM_PFN, 262144 - HIGHMEM_PFN)]
    # each node holds its own mem_map (half * 32 bytes): node 1's at its first page
    assert k.zones[2].managed == HIGHMEM_PFN - half - half * 32 // PAGE
    # the zonelists of node 1 try the local node first
    names = [(z.node.id, z.name) for z in k.nodes[1].zonelists[2]]
    assert names == [(1, "HighMem"), (1, "Normal"), (0, "Normal"), (0, "DMA")]


def test_allocation_on_a_cpu_of_node_1_takes_node_1_memory_first(kernel):
    k = kernel(mem=64 << 20, nodes=2, cpus=2)
    k.set_current(1, "node1task")  # cpu 1 -> node 1
    boot = {z: dict(z.stats) for z in k.zones}   # SLAB's boot metadata counted already
    pfn = k.alloc_pages(G.GFP_KERNEL, 2)
    zone = k.zone_of(pfn)
    assert zone.node.id == 1
    assert zone.stats["numa_hit"] - boot[zone]["numa_hit"] == 1
    assert zone.stats["local_node"] - boot[zone]["local_node"] == 1
    k.set_current(0, "node0task")
    pfn0 = k.alloc_pages(G.GFP_KERNEL, 2, node_id=1)  # asked for node 1 from cpu 0
    assert k.zone_of(pfn0).node.id == 1 and zone.stats["other_node"] - boot[zone]["other_node"] == 1


# --------------------------------------------------------------------------- watermarks


@pytest.mark.parametrize("mem", [4 << 20, 32 << 20, 64 << 20, 1 << 30, 4 << 30])
def test_watermarks_follow_setup_per_zone_pages_min(mem, kernel):
    k = kernel(mem=mem)
    mfk, marks = expected_watermarks([(z.is_highmem, z.present, z.managed) for z in k.zones])
    assert k.min_free_kbytes == mfk
    assert [(z.pages_min, z.pages_low, z.pages_high) for z in k.zones] == marks


def test_watermarks_of_64m_worked_by_hand(k64):
    # lowmem present = 4096 + 12288 pages = 65536 kB; isqrt(65536*16) = 1024
    assert k64.min_free_kbytes == 1024
    dma, normal = k64.zones
    # pages_min 256 split by present pages (4096 : 12288 of 16384)
    assert (dma.pages_min, dma.pages_low, dma.pages_high) == (64, 64 + 16, 64 + 32)
    assert (normal.pages_min, normal.pages_low, normal.pages_high) == (192, 192 + 48, 192 + 96)


def test_highmem_min_is_clamped_between_32_and_128_pages(kernel):
    k1 = kernel(mem=1 << 30)
    assert k1.zones[2].pages_min == 32          # 32768 / 1024 = 32
    k4 = kernel(mem=4 << 30)
    assert k4.zones[2].pages_min == 128         # 819200 / 1024 = 800, clamped


def test_writing_min_free_kbytes_recomputes_every_watermark(k64):
    k64.set_min_free_kbytes(4096)
    pages_min = 1024
    dma, normal = k64.zones
    tmp_dma, tmp_normal = pages_min * 4096 // 16384, pages_min * 12288 // 16384
    assert (dma.pages_min, dma.pages_low, dma.pages_high) == (
        tmp_dma, tmp_dma + tmp_dma // 4, tmp_dma + tmp_dma // 2)
    assert (normal.pages_min, normal.pages_low, normal.pages_high) == (
        tmp_normal, tmp_normal + tmp_normal // 4, tmp_normal + tmp_normal // 2)


@pytest.mark.parametrize("mem, expected", [
    (64 << 20, [[0, 12288 // 256, 12288 // 256], [0, 0, 0]]),
    (1 << 30, [[0, 225280 // 256, (225280 + 32768) // 256], [0, 0, 32768 // 32], [0, 0, 0]]),
    (4 << 30, [[0, 225280 // 256, (225280 + 819200) // 256], [0, 0, 819200 // 32], [0, 0, 0]]),
])
def test_lowmem_reserve_uses_ratios_256_and_32(mem, expected, kernel):
    k = kernel(mem=mem)
    assert [z.lowmem_reserve for z in k.zones] == expected


# --------------------------------------------------------------------------- buddy


def test_buddy_splits_a_large_block_and_coalesces_it_back(k64):
    normal = zone_by_name(k64, "Normal")
    before = free_lists(k64)
    counts = [normal.nr_free(o) for o in range(11)]
    smallest = min(o for o in range(3, 11) if counts[o])
    pfn = k64.alloc_pages(G.GFP_KERNEL, 3)
    assert k64.zone_of(pfn) is normal
    assert pfn % 8 == 0
    after = [normal.nr_free(o) for o in range(11)]
    # one block of `smallest` split: one buddy left at each order 3..smallest-1
    assert after[smallest] == counts[smallest] - 1
    assert all(after[o] == counts[o] + 1 for o in range(3, smallest))
    assert k64.mem_map[pfn:pfn + 8] == [PAGES] * 8
    assert k64.free_pages_pfn(pfn, 3) is True
    assert free_lists(k64) == before


def test_order_0_pages_come_back_through_the_per_cpu_list(k64):
    k64.drain_all_pages()                      # boot's slab allocations left pages on the lists
    before = free_lists(k64)
    pfns = [k64.alloc_pages(G.GFP_KERNEL, 0) for _ in range(40)]
    for pfn in pfns:
        k64.free_pages_pfn(pfn, 0)
    assert any(k64.mem_map[p] is PCP for p in pfns)
    k64.drain_all_pages()
    assert free_lists(k64) == before
    assert all(z.pcp_count() == 0 for z in k64.zones)


def test_gfp_dma_allocates_only_from_zone_dma(k64):
    normal_free = zone_by_name(k64, "Normal").free_pages + zone_by_name(k64, "Normal").pcp_count()
    pfns = exhaust(k64, G.GFP_KERNEL | G.__GFP_DMA, 4)
    pfns += exhaust(k64, G.GFP_ATOMIC | G.__GFP_DMA, 4)
    pfns += exhaust(k64, G.GFP_ATOMIC | G.__GFP_DMA, 0)
    assert len(pfns) > 200 and all(p + 16 <= DMA_PAGES for p in pfns)
    normal = zone_by_name(k64, "Normal")
    assert normal.free_pages + normal.pcp_count() == normal_free   # Normal was never touched, even when DMA ran out


def test_gfp_highmem_prefers_highmem_then_normal_then_dma(kernel):
    k = kernel(mem=1 << 30, cpus=1)
    zones_used = [k.zone_of(p).name for p in exhaust(k, G.GFP_HIGHUSER, 10)]
    # each zone is first touched when the ones before it in the zonelist fall
    # below their watermark (the low-mark pass may then go back to a higher zone
    # at its min mark, as __alloc_pages does)
    assert list(dict.fromkeys(zones_used)) == ["HighMem", "Normal", "DMA"]


def test_default_allocation_uses_normal_then_dma_never_highmem(kernel):
    k = kernel(mem=1 << 30, cpus=1)
    zones_used = [k.zone_of(p).name for p in exhaust(k, G.GFP_KERNEL, 10)]
    assert list(dict.fromkeys(zones_used)) == ["Normal", "DMA"]
    normal = zone_by_name(k, "Normal")
    # DMA was first used only once Normal could not stay above its low mark
    first_dma = zones_used.index("DMA")
    assert normal.managed - first_dma * 1024 - 1024 < normal.pages_low
    high = zone_by_name(k, "HighMem")
    assert high.free_pages == high.managed


def _floor(mark, high=False, harder=False):
    """zone_watermark_ok's lowered mark: ALLOC_HIGH takes half, ALLOC_HARDER a quarter more."""
    if high:
        mark -= mark // 2
    if harder:
        mark -= mark // 4
    return mark


def test_gfp_kernel_stops_at_the_min_watermark(kernel):
    # 32 MiB: both zones have pcp batch 1, so the free counts land exactly on the marks
    k = kernel(mem=32 << 20, cpus=1)
    dma, normal = k.zones
    exhaust(k, G.GFP_KERNEL)
    assert normal.free_pages == normal.pages_min
    assert dma.free_pages == dma.pages_min + dma.lowmem_reserve[1]
    assert k.alloc_pages(G.GFP_KERNEL | G.__GFP_NOWARN, 0) is None


def test_gfp_atomic_dips_below_min_watermark(kernel):
    k = kernel(mem=32 << 20, cpus=1)
    dma, normal = k.zones
    exhaust(k, G.GFP_KERNEL)
    assert k.alloc_pages(G.GFP_KERNEL | G.__GFP_NOWARN, 0) is None
    got = exhaust(k, G.GFP_ATOMIC)
    assert got, "GFP_ATOMIC found nothing below the min watermark"
    # ALLOC_HIGH | ALLOC_HARDER: down to min - min/2 - (that)/4, about 3/8 of min
    assert normal.free_pages == _floor(normal.pages_min, high=True, harder=True)
    assert normal.free_pages < normal.pages_min * 3 // 8 + 2
    assert dma.free_pages == _floor(dma.pages_min, high=True, harder=True) + dma.lowmem_reserve[1]


def test_gfp_high_that_may_sleep_dips_only_to_half_min(kernel):
    k = kernel(mem=32 << 20, cpus=1)
    normal = k.zones[1]
    exhaust(k, G.GFP_KERNEL)
    exhaust(k, G.GFP_KERNEL | G.__GFP_HIGH)   # ALLOC_HIGH without ALLOC_HARDER
    assert normal.free_pages == _floor(normal.pages_min, high=True)
    exhaust(k, G.GFP_ATOMIC)
    assert normal.free_pages == _floor(normal.pages_min, high=True, harder=True)


def test_lowmem_reserve_protects_dma_from_normal_allocations(k64):
    dma = zone_by_name(k64, "DMA")
    exhaust(k64, G.GFP_KERNEL)
    reserve = dma.lowmem_reserve[1]
    assert reserve == 48
    # Normal-class requests left the reserve in DMA ...
    assert dma.free_pages == dma.pages_min + reserve
    # ... which a __GFP_DMA request (classzone DMA) may still take, page by page
    got = exhaust(k64, G.GFP_KERNEL | G.__GFP_DMA)
    assert len(got) == reserve
    assert dma.free_pages == dma.pages_min


def test_gfp_zero_zeroes_while_a_plain_allocation_keeps_stale_bytes(k64):
    k64.mem.fill(0, k64.mem.size, 0x5A)  # what previous owners left behind
    pfn = k64.alloc_pages(G.GFP_KERNEL, 2)
    assert bytes(k64.mem.read(pfn * PAGE, 4 * PAGE)) == b"\x5a" * (4 * PAGE)
    zpfn = k64.alloc_pages(G.GFP_KERNEL | G.__GFP_ZERO, 2)
    assert bytes(k64.mem.read(zpfn * PAGE, 4 * PAGE)) == bytes(4 * PAGE)
    addr = k64.get_zeroed_page(G.GFP_KERNEL)
    assert bytes(k64.mem.read(addr, PAGE)) == bytes(PAGE)


def test_a_freed_hot_page_is_reused_with_its_old_contents(k64):
    pfn = k64.alloc_pages(G.GFP_KERNEL, 0)
    k64.mem.fill(pfn * PAGE, PAGE, 0xC3)
    k64.free_pages_pfn(pfn, 0)
    again = k64.alloc_pages(G.GFP_KERNEL, 0)
    assert again == pfn                         # the hot list is LIFO
    assert bytes(k64.mem.read(pfn * PAGE, PAGE)) == b"\xc3" * PAGE
    k64.free_pages_pfn(again, 0)
    zeroed = k64.alloc_pages(G.GFP_KERNEL | G.__GFP_ZERO, 0)
    assert zeroed == pfn
    assert bytes(k64.mem.read(pfn * PAGE, PAGE)) == bytes(PAGE)


def test_gfp_cold_takes_from_the_cold_list_and_is_counted(k64):
    normal = zone_by_name(k64, "Normal")
    boot = dict(normal.stats)                   # SLAB's boot metadata counted already
    hot = k64.alloc_pages(G.GFP_KERNEL, 0)
    assert normal.stats["pgalloc_hot"] - boot["pgalloc_hot"] == 1
    assert normal.stats["pgalloc_cold"] == boot["pgalloc_cold"]
    k64.free_pages_pfn(hot, 0)                  # frees go to the hot list
    cold = k64.alloc_pages(G.GFP_KERNEL | G.__GFP_COLD, 0)
    assert normal.stats["pgalloc_cold"] - boot["pgalloc_cold"] == 1
    assert cold != hot and k64.mem_map[hot] is PCP
    hot_list, cold_list = normal.pcp[0]
    assert hot in hot_list.pages and hot not in cold_list.pages


def test_per_cpu_hot_list_spills_a_batch_at_its_high_mark(k64):
    normal = zone_by_name(k64, "Normal")
    hot = normal.pcp[0][0]
    # zone_batchsize(12288 present pages): 12 / 4 = 3 -> 2^fls(4)-1... = 3; high = 6 * 3
    assert (hot.batch, hot.high) == (3, 18)
    k64.drain_all_pages()                      # boot's slab allocations left a page there
    pfns = [k64.alloc_pages(G.GFP_KERNEL, 0) for _ in range(hot.high)]
    assert len(hot.pages) == 0                  # refilled 3 at a time, all used
    for pfn in pfns:
        k64.free_pages_pfn(pfn, 0)
    assert len(hot.pages) == hot.high - hot.batch


def test_zone_batchsize_is_zero_for_a_16m_dma_zone_as_2_6_prints(kernel):
    # 2.6.18 boot log: "DMA zone: 4096 pages, LIFO batch:0"; "Normal zone: 225280 pages, LIFO batch:31"
    k = kernel(mem=1 << 30, cpus=1)
    dma, normal, _ = k.zones
    assert (dma.pcp[0][0].high, dma.pcp[0][0].batch) == (0, 1)
    assert (normal.pcp[0][0].high, normal.pcp[0][0].batch) == (6 * 31, 31)
    assert (normal.pcp[0][1].high, normal.pcp[0][1].batch) == (2 * 31, 15)


def test_freeing_an_unallocated_block_is_a_logged_bad_page_state(k64):
    before = free_lists(k64)
    normal = zone_by_name(k64, "Normal")
    free_pfn = next(iter(normal.free_area[10]))
    assert k64.free_pages_pfn(free_pfn, 0) is False
    assert k64.log.grep("Bad page state")
    assert free_lists(k64) == before
    assert k64.free_pages(12345 * PAGE, 3) is False
    assert len(k64.log.grep("Bad page state")) == 2


def test_freeing_with_the_wrong_order_is_a_logged_bad_page_state(k64):
    pfn = k64.alloc_pages(G.GFP_KERNEL, 2)
    during = free_lists(k64)
    assert k64.free_pages_pfn(pfn, 1) is False
    assert any("allocated with order 2" in line for line in k64.log.grep("order:1"))
    assert free_lists(k64) == during
    assert k64.mem_map[pfn:pfn + 4] == [PAGES] * 4
    assert k64.free_pages_pfn(pfn, 2) is True   # the right order still works
    assert k64.free_pages_pfn(pfn, 2) is False  # and a second free is bad again


def test_failed_allocation_logs_page_allocation_failure(k64):
    k64.set_current(4242, "writer")
    exhaust(k64, G.GFP_ATOMIC, 10)
    assert k64.log.grep("page allocation failure") == []  # __GFP_NOWARN kept quiet
    assert k64.alloc_pages(G.GFP_ATOMIC, 10) is None
    assert k64.log.grep("page allocation failure") == [
        "writer: page allocation failure. order:10, mode:0x20"]
    assert k64.log.grep("Mem-info:")
    assert k64.alloc_pages(G.GFP_KERNEL | G.__GFP_ZERO, 10) is None
    assert k64.log.grep("page allocation failure")[-1] == (
        "writer: page allocation failure. order:10, mode:0x80d0")
    assert k64.vm_events["pgalloc_fail"] >= 2


def test_get_free_pages_with_gfp_highmem_is_not_refused_but_has_no_address(kernel):
    k = kernel(mem=1 << 30, cpus=1)
    highmem = zone_by_name(k, "HighMem")
    free = highmem.free_pages + highmem.pcp_count()
    assert k.get_free_pages(G.GFP_HIGHUSER, 0) is None   # page_address() of a HighMem page: NULL
    assert highmem.free_pages + highmem.pcp_count() == free - 1   # ... and the page is lost
    assert not k.log.grep("kernel BUG")
    assert k.get_zeroed_page(G.GFP_HIGHUSER) is None     # only get_zeroed_page BUG()s
    assert k.log.grep("kernel BUG at mm/page_alloc.c:1086!")
    addr = k.get_free_pages(G.GFP_KERNEL, 1)
    assert addr % (2 * PAGE) == 0 and addr < (896 << 20)
    assert k.free_pages(addr, 1) is True


def test_allocation_statistics_count_pages(k64):
    normal = zone_by_name(k64, "Normal")
    boot, boot_events = dict(normal.stats), dict(k64.vm_events)   # boot's slab pages counted
    pfn = k64.alloc_pages(G.GFP_KERNEL, 3)
    assert normal.stats["pgalloc"] - boot["pgalloc"] == 8
    k64.free_pages_pfn(pfn, 3)
    assert normal.stats["pgfree"] - boot["pgfree"] == 8 and k64.vm_events["pgfree"] - boot_events["pgfree"] == 8


def test_free_pages_of_a_slab_is_a_bad_page_state_not_a_crash(kernel):
    k = kernel(mem=32 << 20)
    c = k.kmem_cache_create("victim", 100, 0, 0)
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    slab = k.mem_map[objp >> 12]
    assert k.free_pages_pfn(slab.pfn, c.gfporder) is False
    assert any("Bad page state" in r.text for r in k.log.records)
    assert k.mem_map[objp >> 12] is slab
    k.kmem_cache_free(c, objp)  # still works: the slab was left alone
    assert k.kmem_cache_shrink(c) == 0


def test_second_node_below_16m_is_normal_memory_not_lost(kernel):
    k = kernel(mem=24 << 20, nodes=2)
    assert sum(z.spanned for z in k.zones) == (24 << 20) >> 12
    node1 = [z for z in k.zones if z.node.id == 1]
    assert [z.name for z in node1] == ["Normal"]
    assert node1[0].start_pfn == (12 << 20) >> 12
