"""Differential tests of the page allocator against the 2.6.18 source.

Expected values are transcribed from the 2.6.18 source (rocklee104/linux-2.6.18,
4ba3a12d) in each test, never computed by the simulator's helpers.
"""
from __future__ import annotations

import math

import pytest

from allocator.kernel import Kernel
from allocator.printk import KernelLog

PAGE = 4096


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# ---------------------------------------------------------------- item 6: present pages


def test_zone_dma_present_is_4096_on_1g_the_hole_is_reserved_not_absent():
    # arch/i386/kernel/setup.c zone_sizes_init: zones_size[ZONE_DMA] = max_dma
    # (16 MiB >> PAGE_SHIFT), free_area_init(zones_size): no zholes.
    k = Kernel(mem=1 << 30)
    assert [(z.name, z.present) for z in k.zones] == [
        ("DMA", 4096), ("Normal", (896 << 20) // PAGE - 4096), ("HighMem", (128 << 20) // PAGE)]
    # init_per_zone_pages_min: lowmem_kbytes = nr_free_buffer_pages() * 4, which at
    # that point (pages_high 0) is the lowmem zones' present pages
    lowmem_kbytes = ((896 << 20) // PAGE) * 4
    assert k.min_free_kbytes == math.isqrt(lowmem_kbytes * 16) == 3831
    # setup_per_zone_pages_min: DMA tmp = (3831 >> 2) * 4096 / 229376
    tmp = (3831 >> 2) * 4096 // 229376
    dma = k.zones[0]
    assert (dma.pages_min, dma.pages_low, dma.pages_high) == (tmp, tmp + (tmp >> 2), tmp + (tmp >> 1))
    # the hole's 97 frames and pfn 0 are not in the buddy lists
    assert dma.managed == 4096 - (0x100 - 0x9F) - 1
    k.close()


# ---------------------------------------------------------------- item 12: printk_ratelimit


def test_printk_ratelimit_is_the_2618_token_bucket():
    # kernel/printk.c __printk_ratelimit: toks starts at 10 * 5 * HZ; each message
    # costs 5 * HZ tokens; tokens come back one per jiffy, capped at burst * 5 * HZ.
    clock = Clock()
    log = KernelLog(clock=clock)
    assert [log.ratelimit() for _ in range(12)] == [True] * 10 + [False] * 2
    clock.t += 4.9                 # not yet 5 * HZ jiffies
    assert not log.ratelimit()
    clock.t += 0.2                 # 5.1 s: one token's worth
    assert log.ratelimit()
    assert log.records[-1].text == "printk: 3 messages suppressed."
    assert not log.ratelimit()     # one per 5 s, not a new burst
    clock.t += 12.6                # 12.6 s = 2 whole messages' worth
    assert [log.ratelimit() for _ in range(3)] == [True, True, False]
    clock.t += 3600                # a long quiet spell refills only the burst
    assert [log.ratelimit() for _ in range(11)] == [True] * 10 + [False]


def test_printk_ratelimit_suppressed_count_is_printed_once_with_the_next_message():
    clock = Clock()
    log = KernelLog(clock=clock)
    for _ in range(15):
        log.ratelimit()
    clock.t += 5.0
    assert log.ratelimit()
    assert log.grep("messages suppressed") == ["printk: 5 messages suppressed."]
    clock.t += 5.0
    assert log.ratelimit()
    assert len(log.grep("messages suppressed")) == 1


# ---------------------------------------------------------------- item 1: kswapd

KERNEL, ATOMIC, NOWARN = 0xD0, 0x20, 0x200


def test_kswapd_is_woken_below_the_low_watermark_and_balances_to_high():
    k = Kernel(mem=32 << 20, cpus=1, background=30)
    woken = []
    k.page_alloc.kswapd_wake = woken.append
    node = k.nodes[0]
    normal = k.zones[1]
    pages = []
    # mm/vmscan.c wakeup_kswapd: from __alloc_pages once the first pass at
    # ALLOC_WMARK_LOW fails, for a zone with !zone_watermark_ok(zone, order, pages_low, 0, 0)
    while normal.free_pages > normal.pages_low - 4:
        pages.append(k.alloc_pages(KERNEL, 0))
    assert woken == [0] and node.kswapd_woken
    before = k.vm_events["pageoutrun"]
    for _ in range(20):
        k.kswapd_run()
        if not node.kswapd_woken:
            break
    assert not node.kswapd_woken
    # balance_pgdat: count_vm_event(PAGEOUTRUN) per pass; done when every zone is
    # above pages_high (zone_watermark_ok with pages_high) or, below DEF_PRIORITY,
    # all_unreclaimable (shrink_slab freed nothing for it, no LRU pages scanned)
    assert k.vm_events["pageoutrun"] > before
    assert all(z.free_pages - 1 > z.pages_high or z.all_unreclaimable for z in k.zones)
    assert normal.free_pages - 1 > normal.pages_high
    assert not any(k.background.values())     # the shrinkers gave their objects back
    # kswapd_steal counts LRU pages and kswapd_inodesteal page cache freed with
    # inodes: there are none here
    assert k.vm_events["kswapd_steal"] == k.vm_events["kswapd_inodesteal"] == 0
    assert k.vm_events["slabs_scanned"] > 0
    k.close()


def test_kswapd_marks_a_zone_it_cannot_reclaim_all_unreclaimable_until_a_free():
    k = Kernel(mem=16 << 20, cpus=1)
    while k.alloc_pages(ATOMIC | NOWARN, 0) is not None:
        pass
    assert k.nodes[0].kswapd_woken
    k.kswapd_run()
    dma = k.zones[0]
    # balance_pgdat: nr_slab == 0 && pages_scanned >= (nr_active + nr_inactive) * 4
    assert dma.all_unreclaimable
    assert "all_unreclaimable? yes" in k.show_mem()
    # free_pages_bulk / free_one_page clear it
    blocks = [p for p, o in k.alloc_order.items() if o == 0][:40]
    for p in blocks:
        k.free_pages_pfn(p, 0)
    k.drain_all_pages()
    assert not dma.all_unreclaimable
    k.close()


# ---------------------------------------------------------------- item 4: show_mem


def test_show_mem_is_2618s_on_a_64m_box():
    k = Kernel(mem=64 << 20, cpus=2)
    lines = k.show_mem().split("\n")
    assert lines[0] == "Mem-info:"
    # show_free_areas: for_each_zone over DMA, DMA32, Normal, HighMem; no "Node N " (!CONFIG_NUMA)
    assert lines[1] == "DMA per-cpu:"
    assert lines[2:6] == ["cpu 0 hot: high 0, batch 1 used:0", "cpu 0 cold: high 0, batch 1 used:0",
                          "cpu 1 hot: high 0, batch 1 used:0", "cpu 1 cold: high 0, batch 1 used:0"]
    assert lines[6] == "DMA32 per-cpu: empty"
    assert lines[7] == "Normal per-cpu:"
    assert lines[12] == "HighMem per-cpu: empty"
    free_kb = k.nr_free_pages() * 4
    assert lines[13] == "Free pages: %11dkB (%dkB HighMem)" % (free_kb, 0)  # noqa: UP031 (the printk format)
    assert lines[14] == (f"Active:0 inactive:0 dirty:0 writeback:0 unstable:0 free:{k.nr_free_pages()}"
                         f" slab:{k.nr_slab_pages()} mapped:0 pagetables:0")
    dma = k.zones[0]
    assert lines[15] == (f"DMA free:{dma.free_pages * 4}kB min:{dma.pages_min * 4}kB low:{dma.pages_low * 4}kB"
                         f" high:{dma.pages_high * 4}kB active:0kB inactive:0kB present:16384kB"
                         " pages_scanned:0 all_unreclaimable? no")
    # setup_per_zone_lowmem_reserve with MAX_NR_ZONES 4 and ratios {256, 256, 32}:
    # DMA: [1] = DMA32 0 / 256, [2] = (12288 + 0) / 256, [3] = (0 + 12288 + 0) / 256
    assert lines[16] == "lowmem_reserve[]: 0 0 48 48"
    # DMA32 (empty): [2] = 12288 / 256, [3] = 12288 / 256
    assert lines[17] == ("DMA32 free:0kB min:0kB low:0kB high:0kB active:0kB inactive:0kB present:0kB"
                         " pages_scanned:0 all_unreclaimable? no")
    assert lines[18] == "lowmem_reserve[]: 0 0 48 48"
    assert lines[20] == "lowmem_reserve[]: 0 0 0 0"
    # an empty HighMem zone: setup_per_zone_pages_min gives min_pages = 0 / 1024 -> SWAP_CLUSTER_MAX
    assert lines[21] == ("HighMem free:0kB min:128kB low:128kB high:128kB active:0kB inactive:0kB"
                         " present:0kB pages_scanned:0 all_unreclaimable? no")
    assert lines[23].startswith("DMA: ") and lines[23].endswith(f" = {dma.free_pages * 4}kB")
    assert lines[24] == "DMA32: empty" and lines[26] == "HighMem: empty"
    # mm/swap_state.c show_swap_cache_info ends show_free_areas
    assert lines[27:30] == ["Swap cache: add 0, delete 0, find 0/0, race 0+0", "Free swap  = 0kB",
                            "Total swap = 0kB"]
    # arch/i386/mm/pgtable.c show_mem
    i = lines.index("Free swap:            0kB")
    assert i == 30
    assert lines[i + 1:i + 4] == ["16384 pages of RAM", "0 pages of HIGHMEM",
                                  f"{1 + (0x100 - 0x9F) + 16384 * 32 // 4096} reserved pages"]
    k.close()


def test_show_mem_on_a_numa_kernel_names_the_node():
    k = Kernel(mem=2 << 30, nodes=2, cpus=2)
    text = k.show_mem()
    assert "\nNode 0 DMA per-cpu:\n" in text and "\nNode 1 DMA per-cpu: empty\n" in text
    assert "\nNode 1 HighMem: " in text and "\nNode 1 Normal: empty\n" in text
    # show_mem walks every node's spanned pages: node 0's [896M, 1G) and all of node 1 are HighMem
    assert f"\n{(2 << 30) // PAGE} pages of RAM\n{((2 << 30) - (896 << 20)) // PAGE} pages of HIGHMEM\n" in text
    k.close()


@pytest.mark.pure_only   # dump_stack reads the allocator's Python frames (allocator/_pure.py)
def test_a_page_allocation_failure_dumps_the_stack_of_the_simulated_path():
    k = Kernel(mem=16 << 20, cpus=1)
    while k.alloc_pages(ATOMIC | NOWARN, 0) is not None:
        pass
    c = k.kmem_cache_create("pa12", 3000, 0, 0)
    n = len(k.log.records)
    assert k.kmem_cache_alloc(c, ATOMIC) is None
    out = [r.text for r in list(k.log.records)[n:]]
    assert out[0] == "swapper: page allocation failure. order:0, mode:0x20"
    syms = [line.split("] ", 1)[1].split("+", 1)[0] for line in out[1:] if line.startswith(" [<")]
    # 2.6.18: kmem_cache_alloc -> __cache_alloc (inline) -> cache_alloc_refill -> cache_grow
    #   -> kmem_getpages -> alloc_pages_node (inline) -> __alloc_pages
    assert syms == ["show_trace", "dump_stack", "__alloc_pages", "kmem_getpages", "cache_grow",
                    "cache_alloc_refill", "kmem_cache_alloc"]
    assert out[len(syms) + 1] == "Mem-info:"
    k.close()


# ---------------------------------------------------------------- item 13: NUMA


def node_order(zonelist) -> list[int]:
    seen: list[int] = []
    for z in zonelist:
        if z.node.id not in seen:
            seen.append(z.node.id)
    return seen


def test_numa_zonelists_follow_find_next_best_node():
    # build_zonelists + find_next_best_node (2.6.18), node_distance 10 local / 20
    # remote, PENALTY_FOR_NODE_WITH_CPUS 1, val *= nr_online * MAX_NUMNODES, node_load
    # raised for the first node of each new distance (worked by hand):
    # CPUs on nodes 0 and 1 only: headless nodes 2 and 3 come first
    k = Kernel(mem=4 << 30, nodes=4, cpus=2)
    assert [node_order(n.zonelists[2]) for n in k.nodes] == [[0, 2, 3, 1], [1, 3, 2, 0],
                                                              [2, 3, 0, 1], [3, 2, 0, 1]]
    k.close()
    # a CPU on every node: round robin
    k = Kernel(mem=4 << 30, nodes=4, cpus=4)
    assert [node_order(n.zonelists[2]) for n in k.nodes] == [[0, 1, 2, 3], [1, 2, 3, 0],
                                                              [2, 3, 0, 1], [3, 0, 1, 2]]
    # i386 discontig zone_sizes_init: a node starting above max_low_pfn is HighMem only
    assert [[z.name for z in n.zones] for n in k.nodes] == [["DMA", "Normal", "HighMem"], ["HighMem"],
                                                             ["HighMem"], ["HighMem"]]
    k.close()


def test_numa_counters_are_counted_only_on_a_numa_kernel():
    k = Kernel(mem=64 << 20, nodes=1)
    for _ in range(100):
        k.alloc_pages(KERNEL, 0)
    assert all(z.stats[s] == 0 for z in k.zones
               for s in ("numa_hit", "numa_miss", "numa_foreign", "local_node", "other_node"))
    k.close()
    k = Kernel(mem=64 << 20, nodes=2, cpus=2)
    boot = sum(z.stats["numa_hit"] for z in k.zones)    # SLAB's boot metadata took pages too
    for _ in range(100):
        k.alloc_pages(KERNEL, 0)
    assert sum(z.stats["numa_hit"] for z in k.zones) - boot == 100
    k.close()


def test_an_oom_on_a_numa_box_whose_zonelist_misses_a_node_kills_current():
    # mm/oom_kill.c constrained_alloc: a GFP_DMA zonelist has no zone of node 1 ->
    # CONSTRAINT_MEMORY_POLICY -> oom_kill_process(current, 0, "No available memory (MPOL_BIND)")
    k = Kernel(mem=2 << 30, nodes=2, cpus=2)
    k.set_current(2, "other").total_vm = 10 ** 6
    k.set_current(4, "writer")
    while k.alloc_pages(0x21 | NOWARN, 0) is not None:
        pass
    n = len(k.log.records)
    k.alloc_pages(0xD1 | NOWARN, 0)
    out = [r.text for r in list(k.log.records)[n:]]
    assert "Out of Memory: Kill process 4 (writer) score 0 and children." in out
    assert "No available memory (MPOL_BIND): Killed process 4 (writer)." in out
    k.close()
