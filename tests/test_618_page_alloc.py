"""The Linux 6.18 x86_64 page allocator against 6.12 mm/page_alloc.c,
mm/mm_init.c, mm/vmscan.c and the reference's live 6.18 values.

Expected values are worked out here from the kernel's formulas and the
e820 layout of the reference §1 (RAM below min(RAM, 3 GiB), the PCI hole
3-4 GiB, the rest from 4 GiB; pfn 0 and the 0x9f-0xff hole absent, the
first 1 MiB reserved), never by calling the allocator's own helpers.
"""
from __future__ import annotations

import math
import resource
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618 import page_alloc as PA
from allocator.linux618.gfp import (
    __GFP_NOFAIL,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RETRY_MAYFAIL,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_DMA32,
    GFP_KERNEL,
    GFP_NOWAIT,
)
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat

G = 1 << 30
M = 1 << 20
MEMMAP_PER_SECTION = (128 * M // 4096) * 64 // 4096     # 512 pages of struct page per 128 MiB section
KERNEL_IMAGE = 16 * M // 4096                            # the kernel image estimate at 16 MiB


def boot(ram: int, cpus: int = 2, nodes: int = 1) -> PA.PageAllocator:
    log = KernelLog()
    sched = Sched(cpus)
    vmstat = VmStat()
    size = ram if ram <= 3 * G else ram + G                  # the PCI hole 3-4 GiB
    return PA.PageAllocator(X86_64, PhysMem(size), log, sched, vmstat, FaultInject(log),
                            KmemTrace(), Vmscan(vmstat), nodes)


def zone(pa: PA.PageAllocator, name: str, node: int = 0) -> PA.Zone:
    for z in pa.zones:
        if z.name == name and z.node.id == node:
            return z
    raise LookupError(name)


# -- zones ------------------------------------------------------------------------

@pytest.mark.parametrize(("ram", "dma32", "normal"), [
    (64 * M, (12288, 12288), (0, 0)),          # the reference §1 table
    (1 * G, (258048, 258048), (0, 0)),
    (4 * G, (1044480, 782336), (262144, 262144)),
    (8 * G, (1044480, 782336), (1310720, 1310720)),
])
def test_zone_sizes(ram, dma32, normal):
    pa = boot(ram)
    dma = zone(pa, "DMA")
    assert (dma.start_pfn, dma.spanned, dma.present, dma.managed) == (1, 4095, 3998, 3840)
    z32 = zone(pa, "DMA32")
    assert (z32.spanned, z32.present) == dma32
    zn = zone(pa, "Normal")
    assert (zn.spanned, zn.present) == normal
    if normal[0]:
        assert zn.start_pfn == 1 << 20
    for name in ("Movable", "Device"):
        assert zone(pa, name).present == 0
    assert [z.name for z in pa.zones] == ["DMA", "DMA32", "Normal", "Movable", "Device"]


@pytest.mark.parametrize("ram", [64 * M, 1 * G, 4 * G, 8 * G])
def test_memmap_is_charged_to_the_top_zone(ram):
    """64-byte struct page per frame, 2 MiB per present 128 MiB section,
    allocated top-down: all in the highest populated zone here; the kernel
    image (16 MiB from 16 MiB) in DMA32."""
    pa = boot(ram)
    sections = -(-min(ram, 3 * G) // (128 * M)) + -(-max(0, ram - 3 * G) // (128 * M))
    memmap = sections * MEMMAP_PER_SECTION
    z32, zn = zone(pa, "DMA32"), zone(pa, "Normal")
    if zn.present:
        assert zn.present - zn.managed == memmap
        assert z32.present - z32.managed == KERNEL_IMAGE
    else:
        assert z32.present - z32.managed == memmap + KERNEL_IMAGE
    assert pa.totalram_pages == sum(z.managed for z in pa.zones)


def test_frames_at_boot():
    pa = boot(64 * M)
    assert pa.mem_map[0] is PA.HOLE
    assert pa.mem_map[0x9F] is PA.HOLE and pa.mem_map[0xFF] is PA.HOLE
    assert pa.mem_map[1] is PA.RESERVED and pa.mem_map[0x9E] is PA.RESERVED
    assert pa.mem_map[0x100] is PA.FREE                     # 1 MiB: the first free frame
    assert pa.mem_map[4096] is PA.RESERVED                  # the kernel image
    assert pa.mem_map[(16384) - 1] is PA.RESERVED           # memmap at the top
    assert pa.mem_map[16384 - MEMMAP_PER_SECTION - 1] is PA.FREE


def test_64g_boots_fast_and_small():
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    pa = boot(64 * G)
    elapsed = time.perf_counter() - t
    assert elapsed < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 16 * 1024   # kB
    assert zone(pa, "Normal").present == (64 * G - 3 * G) // 4096
    assert pa.mem_map.touched() == 0
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0)
    assert pfn is not None and pfn >= 1 << 20               # from Normal
    assert pa.mem_map.touched() <= 2 * PA.CHUNK


# -- watermarks ---------------------------------------------------------------------

def expected_wmarks(managed: list[int], min_free_kbytes: int, wsf: int = 10):
    """__setup_per_zone_wmarks for DMA, DMA32, Normal (+ an empty Movable)."""
    pages_min = min_free_kbytes // 4
    lowmem = sum(managed)
    out = []
    for m in managed:
        tmp = pages_min * m // lowmem
        step = max(tmp >> 2, m * wsf // 10000)
        out.append([tmp, tmp + step, tmp + 2 * step, tmp + 3 * step])
    return out


@pytest.mark.parametrize("ram", [64 * M, 1 * G, 4 * G, 8 * G, 64 * G])
def test_min_free_kbytes_and_watermarks(ram):
    pa = boot(ram)
    managed = [z.managed for z in pa.zones[:3]]
    populated = sum(1 for z in pa.zones[:3] if z.present)
    # calculate_min_free_kbytes at postcore: high watermarks still 0
    first = max(128, min(262144, math.isqrt(sum(managed) * 4 * 16)))
    marks = expected_wmarks(managed, first)
    buffer_pages = sum(max(0, m - w[2]) for m, w in zip(managed, marks, strict=True))
    rec = min(512 * populated * 2 + 512 * populated * 9, buffer_pages // 20) * 4
    want = max(first, rec)
    assert pa.min_free_kbytes == want
    assert [z.watermark for z in pa.zones[:3]] == expected_wmarks(managed, want)
    assert pa.zones[3].watermark == [32, 32, 32, 32]          # empty Movable: clamp(0, 32, 128)


def test_thp_raises_min_free_kbytes_to_67584_with_three_zones():
    """The live 24 GiB host: Z = 3 gives 16896 pages = 67584 kB."""
    assert boot(8 * G).min_free_kbytes == 67584


def test_watermark_scale_factor():
    pa = boot(1 * G)
    PA.set_watermark_scale_factor(pa, 200)
    z = zone(pa, "DMA32")
    step = z.managed * 200 // 10000
    assert z.watermark[1] - z.watermark[0] == step
    assert z.watermark[2] - z.watermark[1] == step


def test_lowmem_reserve_ratio_256_256_32():
    pa = boot(8 * G)
    dma, z32, zn = pa.zones[0], pa.zones[1], pa.zones[2]
    assert pa.lowmem_reserve_ratio == [256, 256, 32, 0, 0]
    up32 = z32.managed // 256
    upn = (z32.managed + zn.managed) // 256
    assert dma.lowmem_reserve == [0, up32, upn, upn, upn]
    assert z32.lowmem_reserve == [0, 0, zn.managed // 256] + [zn.managed // 256] * 2
    assert zn.lowmem_reserve == [0, 0, 0, 0, 0]


def test_totalreserve_pages():
    pa = boot(4 * G)
    want = sum(min(z.managed, max(z.lowmem_reserve[z.idx:]) + z.watermark[2]) for z in pa.zones)
    assert pa.totalreserve_pages == want


# -- per-CPU lists ----------------------------------------------------------------------

@pytest.mark.parametrize(("managed", "batch"), [
    (3840, 1), (4095, 1), (8192, 1), (12288, 3), (65536, 15), (262144, 63), (778240, 63), (1 << 24, 63),
])
def test_zone_batchsize(managed, batch):
    """min(managed >> 10, 256) / 4, then rounddown_pow_of_two(b + b/2) - 1, at least 1."""
    assert max(1, PA.zone_batchsize(managed)) == batch


def test_live_dma_pcp_values_with_live_watermarks():
    """Live DMA: batch 1, high_min 24 (low 48 over 2 CPUs), high_max 240 (3840/8/2)."""
    pa = boot(1 * G)
    dma = zone(pa, "DMA")
    dma.watermark[:] = [39, 48, 57, 66]
    PA.zone_set_pageset_high_and_batch(pa, dma, 0)
    assert (dma.pageset_batch, dma.pageset_high_min, dma.pageset_high_max) == (1, 24, 240)
    assert all((p.batch, p.high_min, p.high_max, p.high) == (1, 24, 240, 0) for p in dma.pcp)


def test_pcp_refill_is_a_batch_and_free_returns_to_the_list():
    pa = boot(1 * G, cpus=1)
    z = zone(pa, "DMA32")
    pcp = z.pcp[0]
    assert pcp.count == 0 and pcp.high == 0
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0)
    assert pfn is not None and z.start_pfn <= pfn < z.end_pfn
    # nr_pcp_alloc: high clamps to high_min, grows by batch; batch << alloc_factor(0)
    assert pcp.high == pcp.high_min + pcp.batch
    assert pcp.count == pcp.batch - 1
    assert pcp.alloc_factor == 1
    assert PA.__free_pages(pa, pfn, 0)
    assert pcp.count == pcp.batch
    assert pcp.lists[0][0] == pfn                        # list_add: the head
    assert pcp.alloc_factor == 0


def test_pcp_free_beyond_high_frees_a_batch_to_the_buddy():
    pa = boot(1 * G, cpus=1)
    z = zone(pa, "DMA32")
    pcp = z.pcp[0]
    pfns = [PA.alloc_pages(pa, GFP_KERNEL, 0) for _ in range(3 * pcp.high_max)]
    for pfn in pfns:
        PA.__free_pages(pa, pfn, 0)
        assert pcp.count < max(pcp.high, pcp.high_min) + pcp.batch
    assert pcp.count <= pcp.high_max
    PA.drain_all_pages(pa)
    assert pcp.count == 0
    assert z.free_pages == z.managed


# -- alloc flags and the watermark test ----------------------------------------------------

def test_alloc_flags():
    pa = boot(64 * M)
    f = PA.gfp_to_alloc_flags
    assert f(pa, GFP_KERNEL, 0) == PA.ALLOC_WMARK_MIN | PA.ALLOC_CPUSET | PA.ALLOC_KSWAPD
    assert f(pa, GFP_ATOMIC, 0) == PA.ALLOC_MIN_RESERVE | PA.ALLOC_KSWAPD | PA.ALLOC_NON_BLOCK
    assert f(pa, GFP_ATOMIC, 1) == (PA.ALLOC_MIN_RESERVE | PA.ALLOC_KSWAPD | PA.ALLOC_NON_BLOCK
                                    | PA.ALLOC_HIGHATOMIC)
    assert f(pa, GFP_NOWAIT, 0) == PA.ALLOC_CPUSET | PA.ALLOC_KSWAPD | PA.ALLOC_NON_BLOCK


@pytest.mark.parametrize(("flags", "fraction"), [
    (0, 1.0),                                                       # GFP_KERNEL, GFP_NOWAIT
    (PA.ALLOC_MIN_RESERVE, 0.5),                                    # __GFP_HIGH, blocking
    (PA.ALLOC_MIN_RESERVE | PA.ALLOC_NON_BLOCK, 3 / 8),             # GFP_ATOMIC
    (PA.ALLOC_OOM, 0.5),                                            # an OOM victim
])
def test_watermark_fraction_kept_back(flags, fraction):
    pa = boot(64 * M)
    z = zone(pa, "DMA32")
    mark = 800
    keep = round(mark * fraction)
    assert not PA.__zone_watermark_ok(z, 0, mark, z.idx, flags, keep)
    assert PA.__zone_watermark_ok(z, 0, mark, z.idx, flags, keep + 1)


# -- the slow path -------------------------------------------------------------------------

@pytest.fixture
def oom_calls(monkeypatch):
    """Record __alloc_pages_may_oom's calls of the OOM killer (it kills nothing)."""
    calls: list[tuple[int, int]] = []

    def out_of_memory(pa, gfp, order):
        calls.append((gfp, order))
        return False
    monkeypatch.setattr(PA, "out_of_memory", out_of_memory)
    return calls


def exhaust(pa, gfp=GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, order=0):
    got = []
    while (pfn := PA.alloc_pages(pa, gfp, order)) is not None:
        got.append(pfn)
    return got


def test_gfp_kernel_stops_at_the_min_watermark_and_calls_the_oom_killer(oom_calls):
    pa = boot(64 * M)
    exhaust(pa)
    z32 = zone(pa, "DMA32")
    assert z32.free_pages <= z32.watermark[0] + 1
    stalls = pa.vm_events["allocstall_normal"]
    assert PA.alloc_pages(pa, GFP_KERNEL, 0) is None
    assert oom_calls == [(GFP_KERNEL, 0)]
    assert pa.vm_events["allocstall_normal"] == stalls + 1
    assert any(r.text.startswith("swapper: page allocation failure: order:0, mode:0xcc0(GFP_KERNEL),"
                                 " nodemask=(null),cpuset=/,mems_allowed=0") for r in pa.log.records)


def test_gfp_atomic_dips_into_the_min_reserve_without_reclaim(oom_calls):
    pa = boot(64 * M)
    exhaust(pa)
    z32 = zone(pa, "DMA32")
    stalls = sum(pa.vm_events[f"allocstall_{z}"] for z in ("dma", "dma32", "normal"))
    got = exhaust(pa, GFP_ATOMIC | __GFP_NOWARN)
    assert got                                          # 5/8 of min is theirs
    assert z32.free_pages <= math.ceil(z32.watermark[0] * 3 / 8) + 1
    # the last pcp refill (batch << alloc_factor) may take pages from below the mark
    assert z32.free_pages + z32.pcp_count() >= z32.watermark[0] * 3 // 8
    assert sum(pa.vm_events[f"allocstall_{z}"] for z in ("dma", "dma32", "normal")) == stalls
    assert oom_calls == []


def test_gfp_nowait_gets_no_reserve(oom_calls):
    pa = boot(64 * M)
    exhaust(pa)
    assert PA.alloc_pages(pa, GFP_NOWAIT, 0) is None
    assert oom_calls == []


@pytest.mark.parametrize(("gfp", "order"), [
    (GFP_KERNEL | __GFP_NORETRY, 0),
    (GFP_KERNEL | __GFP_RETRY_MAYFAIL, 0),
    (GFP_KERNEL, 4),                                   # costly: no OOM kill, no retry
    (GFP_KERNEL | __GFP_RETRY_MAYFAIL, 4),
    (GFP_KERNEL | GFP_DMA, 0),                          # below ZONE_NORMAL
])
def test_no_oom_kill(oom_calls, gfp, order):
    pa = boot(64 * M)
    exhaust(pa)
    exhaust(pa, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 4)
    assert PA.alloc_pages(pa, gfp | __GFP_NOWARN, order) is None
    assert oom_calls == []


def test_noretry_reclaims_once():
    pa = boot(64 * M)
    exhaust(pa)
    before = pa.vm_events["allocstall_normal"]
    assert PA.alloc_pages(pa, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 0) is None
    assert pa.vm_events["allocstall_normal"] == before + 1


def test_nofail_gets_the_reserves_below_min(oom_calls):
    pa = boot(64 * M)
    exhaust(pa)
    z32 = zone(pa, "DMA32")
    assert z32.free_pages > 0
    assert PA.alloc_pages(pa, GFP_KERNEL | __GFP_NOFAIL, 0) is not None


def test_should_reclaim_retry_gives_up_after_16_loops():
    pa = boot(64 * M)
    ac = PA.AllocContext(pa.nodes[0].zonelists[2], 2, 0, pa.nodes[0].zonelists[2][0])
    flags = PA.ALLOC_WMARK_MIN
    loops = [15]
    assert PA.should_reclaim_retry(pa, GFP_KERNEL, 0, ac, flags, False, loops) and loops == [16]
    assert not PA.should_reclaim_retry(pa, GFP_KERNEL, 0, ac, flags, False, loops) and loops == [17]
    loops = [16]
    assert PA.should_reclaim_retry(pa, GFP_KERNEL, 3, ac, flags, True, loops) and loops == [0]
    loops = [16]                                        # costly: progress does not reset
    assert not PA.should_reclaim_retry(pa, GFP_KERNEL, 4, ac, flags, True, loops) and loops == [17]


def test_sleeping_caller_is_told_to_sleep_where_6_18_loops(monkeypatch):
    def kill_elsewhere(pa, gfp, order):
        pa.vm_events["oom_kill"] += 1
        return True
    monkeypatch.setattr(PA, "out_of_memory", kill_elsewhere)
    pa = boot(64 * M)
    exhaust(pa)
    pa.sched.sleep_ok = True
    assert PA.alloc_pages(pa, GFP_KERNEL, 0) is None
    assert pa.sched.sleep_request == (GFP_KERNEL, 0)
    assert pa.sched.alloc_next == "oom"
    n = len(pa.log.records)
    pa.sched.sleep_ok = False
    pa.sched.sleep_request = None
    assert PA.alloc_pages(pa, GFP_KERNEL, 0) is None     # not sleeping: the report now
    assert pa.sched.sleep_request is None
    assert len(pa.log.records) >= n


# -- conservation ------------------------------------------------------------------------

GFPS = [GFP_KERNEL, GFP_ATOMIC, GFP_KERNEL | 0x8, GFP_KERNEL | 0x10, GFP_KERNEL | GFP_DMA,
        GFP_KERNEL | 0x4, GFP_NOWAIT]


def check_state(pa: PA.PageAllocator, allocated: dict[int, int]) -> None:
    """free + pcp + allocated + reserved == present in every zone, and the
    free lists agree with the frames and the pageblocks."""
    for z in pa.zones:
        if not z.present:
            continue
        mine = sum(1 << o for p, o in allocated.items() if z.start_pfn <= p < z.end_pfn)
        pcp = sum(p.count for p in z.pcp)
        assert z.free_pages + pcp + mine + (z.present - z.managed) == z.present
        free = 0
        blocks = 0
        for order, area in enumerate(z.free_area):
            n = 0
            for mt, fl in enumerate(area.free_list):
                for pfn in fl:
                    n += 1
                    assert pfn % (1 << order) == 0
                    assert pa.mem_map[pfn] is None and pa.mem_map[pfn + (1 << order) - 1] is None
                    assert z.pageblock_flags[(pfn >> 9) - (z.start_pfn >> 9)] == mt
                    free += 1 << order
                    blocks += (1 << order) if order >= 9 else 0
            assert n == area.nr_free
        assert free == z.free_pages == z.vm_stat["nr_free_pages"]
        assert blocks == z.vm_stat["nr_free_pages_blocks"]
        owners = list(pa.mem_map.runs(z.start_pfn, z.end_pfn))
        assert sum(n for o, n in owners if o is PA.FREE) == free
        assert sum(n for o, n in owners if o is PA.PCP) == pcp
        for p in z.pcp:
            assert p.count == sum(len(lst) << PA.pindex_to_order(i) for i, lst in enumerate(p.lists))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 10), st.sampled_from(GFPS), st.integers(0, 1)),
    st.tuples(st.just("free"), st.integers(0, 10 ** 6), st.just(0), st.integers(0, 1)),
    st.tuples(st.just("drain"), st.just(0), st.just(0), st.just(0)),
    st.tuples(st.just("decay"), st.just(0), st.just(0), st.just(0)),
), max_size=120), st.sampled_from([(64 * M, 1), (256 * M, 2), (3 * G + 4 * M, 1)]))
def test_conservation_over_random_alloc_and_free(ops, machine):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PA, "out_of_memory", lambda pa, gfp, order: False)
        conservation(ops, *machine)


def conservation(ops, ram, nodes):
    pa = boot(ram, nodes=nodes)
    allocated: dict[int, int] = {}
    for op, a, gfp, cpu in ops:
        pa.current.cpu = cpu
        if op == "alloc":
            for _ in range(1 if a else 40):
                pfn = PA.alloc_pages(pa, gfp | __GFP_NOWARN, a)
                if pfn is not None:
                    assert pfn not in allocated
                    allocated[pfn] = a
        elif op == "free" and allocated:
            pfn = sorted(allocated)[a % len(allocated)]
            assert PA.__free_pages(pa, pfn, allocated.pop(pfn))
        elif op == "drain":
            PA.drain_all_pages(pa)
        elif op == "decay":
            PA.refresh_cpu_vm_stats(pa)
        check_state(pa, allocated)
    for pfn, order in list(allocated.items()):
        assert PA.__free_pages(pa, pfn, order)
    PA.drain_all_pages(pa)
    check_state(pa, {})
    assert PA.nr_free_pages(pa) == pa.totalram_pages


# -- fallback stealing, boost, kswapd ------------------------------------------------------

def test_first_unmovable_allocation_claims_a_whole_movable_block():
    """memmap_init_range marks every pageblock MOVABLE; an order >= pageblock
    fallback takes ownership of the block(s) without a boost."""
    pa = boot(64 * M)
    z = zone(pa, "DMA32")
    assert set(z.pageblock_flags) == {1}
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0)
    blocks = list(z.pageblock_flags)
    assert blocks[(pfn >> 9) - (z.start_pfn >> 9)] == 0              # MIGRATE_UNMOVABLE now
    assert blocks.count(0) == 2                                         # an order-10 block: two pageblocks
    assert z.watermark_boost == 0


def test_small_steal_boosts_the_watermark_and_wakes_kswapd():
    pa = boot(64 * M)
    z = zone(pa, "DMA32")
    woken: list[int] = []
    pa.kswapd_wake = woken.append
    movable = exhaust(pa, GFP_KERNEL | 0x8 | __GFP_NOWARN | __GFP_NORETRY)
    mine = [p for p in movable if z.start_pfn <= p < z.end_pfn]
    for pfn in mine[::2][:2000]:                  # every other page: no merging
        PA.__free_pages(pa, pfn, 0)
    PA.drain_all_pages(pa)
    assert z.free_area[0].free_list[1] and not any(z.free_area[o].nr_free for o in range(9, 11))
    assert not any(z.free_area[o].free_list[mt] for o in range(11) for mt in (0, 2))
    pa.nodes[0].kswapd_woken = False              # the exhaustion woke it: it has slept since
    woken.clear()
    assert PA.pgdat_balanced(pa, pa.nodes[0], 0, 2)
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0)
    assert pfn is not None and z.start_pfn <= pfn < z.end_pfn
    high = z.watermark[2]
    assert z.watermark_boost == min(512, max(512, high * 15000 // 10000))
    assert woken == [0]
    assert z.pageblock_flags[(pfn >> 9) - (z.start_pfn >> 9)] == 0    # claimed: >= 256 alike pages


def test_no_boost_in_a_small_zone():
    """boost_watermark: none when the zone has fewer than 4 pageblocks managed."""
    pa = boot(64 * M)
    z = zone(pa, "DMA32")
    z.managed = 4 * 512 - 1
    assert not PA.boost_watermark(pa, z)
    z.managed = 4 * 512
    assert PA.boost_watermark(pa, z) and z.watermark_boost == 512
    pa.watermark_boost_factor = 0
    assert not PA.boost_watermark(pa, z)


def slab_pages(pa, n):
    """n pages that count as unreclaimable slab, freed by a shrinker."""
    pages = []
    for _ in range(n):
        pfn = PA.alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)
        if pfn is None:
            break
        PA.mod_node_page_state(pa, 0, "nr_slab_unreclaimable_b", 4096)
        pages.append(pfn)

    def shrink(nr_to_scan, gfp):
        for _ in range(min(nr_to_scan, len(pages))):
            PA.__free_pages(pa, pages.pop(), 0)
            PA.mod_node_page_state(pa, 0, "nr_slab_unreclaimable_b", -4096)
        return len(pages)
    return pages, shrink


def test_kswapd_is_woken_below_low_and_balances_to_high():
    from allocator.vmscan import Shrinker, register_shrinker
    pa = boot(64 * M)
    z = zone(pa, "DMA32")
    pages, shrink = slab_pages(pa, 10 ** 6)
    register_shrinker(pa.vmscan, Shrinker("test", shrink))
    assert z.free_pages < z.watermark[1]
    assert pa.nodes[0].kswapd_woken
    assert pa.nodes[0].vm_stat["nr_slab_unreclaimable"] == len(pages)
    reclaimed = PA.kswapd_run(pa)
    assert reclaimed > 0
    assert pa.vm_events["pageoutrun"] == 1
    PA.drain_all_pages(pa)
    assert z.free_pages > z.watermark[2]
    assert not pa.nodes[0].kswapd_woken


def test_kswapd_gives_up_after_16_failures():
    pa = boot(64 * M)
    exhaust(pa)
    node = pa.nodes[0]
    assert node.kswapd_woken
    runs = 0
    while node.kswapd_woken and runs < 100:
        PA.kswapd_run(pa)
        runs += 1
    assert runs == 16 and node.kswapd_failures == 16
    assert pa.vm_events["pageoutrun"] == 16
    assert pa.vm_events["kswapd_high_wmark_hit_quickly"] == 15
    PA.alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)
    assert not node.kswapd_woken                  # hopeless: left to direct reclaim


# -- more rules ------------------------------------------------------------------------------

def test_nofragment_refuses_a_small_steal():
    """__rmqueue_claim with ALLOC_NOFRAGMENT looks only at pageblock-sized
    fallbacks, and __rmqueue_steal is skipped."""
    pa = boot(64 * M)
    z = zone(pa, "DMA32")
    movable = exhaust(pa, GFP_KERNEL | 0x8 | __GFP_NOWARN | __GFP_NORETRY)
    mine = [p for p in movable if z.start_pfn <= p < z.end_pfn]
    for pfn in mine[::2][:600]:
        PA.__free_pages(pa, pfn, 0)
    PA.drain_all_pages(pa)
    assert not any(z.free_area[o].nr_free for o in range(9, 11))
    free = z.free_pages
    assert PA.__rmqueue(pa, z, 0, 0, PA.ALLOC_NOFRAGMENT, [PA.RMQUEUE_NORMAL]) is None
    assert z.free_pages == free
    assert PA.__rmqueue(pa, z, 0, 0, 0, [PA.RMQUEUE_NORMAL]) is not None
    assert z.free_pages == free - 1


def test_normal_zone_first_attempt_is_nofragment():
    pa = boot(8 * G)
    assert PA.alloc_flags_nofragment(pa, zone(pa, "Normal"), GFP_KERNEL) == \
        PA.ALLOC_NOFRAGMENT | PA.ALLOC_KSWAPD
    assert PA.alloc_flags_nofragment(pa, zone(pa, "DMA32"), GFP_KERNEL) == PA.ALLOC_KSWAPD
    assert PA.alloc_flags_nofragment(pa, zone(pa, "Normal"), GFP_KERNEL & ~0x800) == \
        PA.ALLOC_NOFRAGMENT


def test_lowmem_reserve_keeps_dma_for_gfp_dma():
    pa = boot(64 * M)
    pa.watermark_boost_factor = 0                 # no boost: the reserve alone
    dma = zone(pa, "DMA")
    exhaust(pa)
    reserve = dma.lowmem_reserve[2]
    assert reserve == zone(pa, "DMA32").managed // 256
    assert dma.free_pages + dma.pcp_count() >= dma.watermark[0] + reserve   # a refill may dip below
    got = exhaust(pa, GFP_DMA | GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY)
    assert len(got) >= reserve
    assert all(p < 4096 for p in got)


def test_highatomic_pageblock_reserved_for_high_order_atomic():
    """reserve_highatomic_pageblock: ALLOC_HIGHATOMIC from the slow path;
    at most ~1% of the zone, a pageblock at a time."""
    pa = boot(1 * G)
    z = zone(pa, "DMA32")
    dma = zone(pa, "DMA")
    while z.free_pages > z.watermark[1]:
        PA.alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN, 0)
    while dma.free_pages > dma.watermark[1] + dma.lowmem_reserve[2]:
        PA.alloc_pages(pa, GFP_DMA | __GFP_NOWARN, 0)
    pfn = PA.alloc_pages(pa, GFP_ATOMIC, 2)
    assert pfn is not None
    assert z.nr_reserved_highatomic == 512
    assert z.pageblock_flags[(pfn >> 9) - (z.start_pfn >> 9)] == 3      # MIGRATE_HIGHATOMIC
    limit = -(-(z.managed // 100) // 512) * 512
    for _ in range(200):
        PA.alloc_pages(pa, GFP_ATOMIC | __GFP_NOWARN, 2)
    assert z.nr_reserved_highatomic <= limit
    ac = PA.AllocContext(pa.nodes[0].zonelists[2], 2, 0, z)
    before = z.nr_reserved_highatomic
    assert PA.unreserve_highatomic_pageblock(pa, ac, True)
    assert z.nr_reserved_highatomic == before - 512


def test_pgalloc_pgfree_and_numa_counters():
    pa = boot(8 * G)
    ev = pa.vm_events
    zn = zone(pa, "Normal")
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 3)
    assert zn.start_pfn <= pfn < zn.end_pfn
    assert ev["pgalloc_normal"] == 8 and ev["pgalloc_dma32"] == 0
    assert zn.numa_stat["numa_hit"] == 1 and zn.numa_stat["numa_local"] == 1
    dpfn = PA.alloc_pages(pa, GFP_DMA32, 0)
    assert 4096 <= dpfn < 1 << 20 and ev["pgalloc_dma32"] == 1
    PA.__free_pages(pa, pfn, 3)
    PA.__free_pages(pa, dpfn, 0)
    assert ev["pgfree"] == 9


def test_two_nodes_numa_miss_and_foreign():
    pa = boot(4 * G, nodes=2)
    n1 = pa.nodes[1]
    assert [z.node.id for z in pa.nodes[0].zonelists[2]] == [0, 0, 1, 1]
    pa.current.cpu = 0
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0, node_id=1)
    z = PA.page_zone(pa, pfn)
    assert z.node is n1
    assert z.numa_stat["numa_hit"] == 1 and z.numa_stat["numa_other"] == 1


def test_mod_node_page_state_keeps_bytes_as_pages():
    pa = boot(64 * M)
    PA.mod_node_page_state(pa, 0, "nr_slab_unreclaimable_b", 3 * 4096)
    PA.mod_node_page_state(pa, 0, "nr_slab_reclaimable_b", 8 * 4096)
    node = pa.nodes[0]
    assert node.vm_stat["nr_slab_unreclaimable"] == 3 and node.vm_stat["nr_slab_reclaimable"] == 8
    assert pa.vmstat.nr_slab_unreclaimable == 3 and pa.vmstat.nr_slab_reclaimable == 8
    PA.mod_node_page_state(pa, 0, "nr_kernel_stack", 16)
    assert node.vm_stat["nr_kernel_stack"] == 16
    assert len(node.vm_stat) == 51 and list(node.vm_stat)[5] == "nr_slab_reclaimable"


def test_percpu_pagelist_high_fraction_fixes_high():
    pa = boot(1 * G)
    z = zone(pa, "DMA32")
    PA.set_percpu_pagelist_high_fraction(pa, 100)
    want = max(z.managed // 100 // 2, 4 * z.pageset_batch)
    assert (z.pageset_high_min, z.pageset_high_max) == (want, want)
    with pytest.raises(ValueError):
        PA.set_percpu_pagelist_high_fraction(pa, 7)
    PA.set_percpu_pagelist_high_fraction(pa, 0)
    assert z.pageset_high_min == max(z.watermark[1] // 2, 4 * z.pageset_batch)
    assert z.pageset_high_max == max(z.managed // 8 // 2, 4 * z.pageset_batch)


def test_decay_pcp_high():
    pa = boot(1 * G, cpus=1)
    z = zone(pa, "DMA32")
    pcp = z.pcp[0]
    pfns = [PA.alloc_pages(pa, GFP_KERNEL, 0) for _ in range(4000)]
    for p in pfns:
        PA.__free_pages(pa, p, 0)
    high, count = pcp.high, pcp.count
    assert high > pcp.high_min
    PA.decay_pcp_high(pa, z, pcp)
    assert pcp.high == max(count - (pcp.batch << 5), high - (high >> 3), pcp.high_min)
    assert pcp.count <= pcp.high
    for _ in range(100):
        PA.decay_pcp_high(pa, z, pcp)
    assert pcp.high == pcp.high_min


def test_get_free_pages_and_zeroed_page():
    pa = boot(64 * M)
    addr = PA.__get_free_pages(pa, GFP_KERNEL, 1)
    assert addr is not None and addr % 8192 == 0
    pa.mem.fill(addr, 8192, 0xAA)
    assert PA.free_pages(pa, addr, 1)
    PA.drain_all_pages(pa)
    z = PA.get_zeroed_page(pa, GFP_KERNEL)
    assert z is not None and bytes(pa.mem.read(z, 4096)) == bytes(4096)


def test_bad_page_state_on_double_free():
    pa = boot(64 * M)
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0)
    assert PA.__free_pages(pa, pfn, 0)
    assert not PA.__free_pages(pa, pfn, 0)
    assert pa.log.records[-2].text == f"BUG: Bad page state in process swapper  pfn:{pfn:05x}"
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 2)
    assert not PA.__free_pages(pa, pfn, 1)                 # wrong order: left alone
    assert PA.__free_pages(pa, pfn, 2)


def test_struct_page_address_is_in_vmemmap():
    pa = boot(64 * M)
    assert PA.struct_page_address(pa, 0) == 0xFFFFEA0000000000
    assert PA.struct_page_address(pa, 0x1234) == 0xFFFFEA0000000000 + 0x1234 * 64


def test_order_above_max_and_zone_bad_fail():
    pa = boot(64 * M)
    assert PA.alloc_pages(pa, GFP_KERNEL, 11) is None
    assert PA.alloc_pages(pa, GFP_KERNEL | 0x1 | 0x4, 0) is None      # __GFP_DMA|__GFP_DMA32
    assert any("GFP_ZONE_BAD" in r.text for r in pa.log.records)


def test_trace_events():
    pa = boot(64 * M)
    events: list[tuple[str, int, int, int | None]] = []
    pa.trace.hook = lambda ev, cache, pfn, flags, size: events.append((ev, pfn, flags, size))
    pa.slow = True
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 0)
    # the first unmovable page claims an order-10 movable block: extfrag, change_ownership
    assert events[0] == ("mm_page_alloc_extfrag", pfn, (1 << 16) | (0 << 8) | 1, (0 << 8) | 10)
    assert events[-1] == ("mm_page_alloc", pfn, GFP_KERNEL, 0)
    events.clear()
    pfns = [PA.alloc_pages(pa, GFP_KERNEL, 0) for _ in range(100)]
    assert ("mm_page_alloc_zone_locked", pfns[-1], 0, 0) in events      # a refill from the buddy
    events.clear()
    for p in pfns:
        PA.__free_pages(pa, p, 0)
    PA.drain_all_pages(pa)
    assert ("mm_page_free", pfns[0], 0, 0) in events
    assert ("mm_page_pcpu_drain", pfns[0], 0, 0) in events
    exhaust(pa)
    events.clear()
    assert PA.alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0) is None
    assert events[-1] == ("mm_page_alloc", -1, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0)


def test_mem_map_reads_like_a_list():
    pa = boot(64 * M)
    mm = pa.mem_map
    assert len(mm) == 16384
    assert mm[0x9E:0xA1] == [PA.RESERVED, PA.HOLE, PA.HOLE]
    pfn = PA.alloc_pages(pa, GFP_KERNEL, 2)
    assert mm[pfn:pfn + 4] == [PA.PAGES] * 4
    assert list(mm.runs(pfn, pfn + 4)) == [(PA.PAGES, 4)]
    with pytest.raises(IndexError):
        mm[16384]


def test_oom_victim_gets_alloc_oom_once(monkeypatch):
    pa = boot(64 * M)
    exhaust(pa)

    def kill_current(pa, gfp, order):
        pa.current.killed = pa.current.memdie = True
        return True
    monkeypatch.setattr(PA, "out_of_memory", kill_current)
    z32 = zone(pa, "DMA32")
    assert z32.free_pages > 0
    assert PA.alloc_pages(pa, GFP_KERNEL, 0) is not None          # ALLOC_OOM: half of min
    assert PA.alloc_pages(pa, GFP_KERNEL, 0) is None              # dead now


def test_nofs_request_loops_without_a_kill(oom_calls):
    """Without __GFP_FS out_of_memory returns true and kills nothing: 6.18
    keeps looping; a sleeping caller is told to retry after a free."""
    pa = boot(64 * M)
    PA.out_of_memory = PA._default_out_of_memory     # monkeypatch restores the recorder after
    exhaust(pa)
    pa.sched.sleep_ok = True
    from allocator.linux618.gfp import GFP_NOFS
    assert PA.alloc_pages(pa, GFP_NOFS, 0) is None
    assert pa.sched.sleep_request == (GFP_NOFS, 0) and pa.sched.alloc_next == "retry"
    assert pa.vm_events["oom_kill"] == 0


def test_thisnode_stays_on_its_node():
    from allocator.linux618.gfp import __GFP_THISNODE
    pa = boot(256 * M, nodes=2)
    n1 = pa.nodes[1]
    while (pfn := PA.alloc_pages(pa, GFP_KERNEL | __GFP_THISNODE | __GFP_NOWARN | __GFP_NORETRY, 0,
                                 node_id=1)) is not None:
        assert PA.page_zone(pa, pfn).node is n1
    pfn = PA.alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0, node_id=1)
    assert pfn is not None and PA.page_zone(pa, pfn).node is pa.nodes[0]


def test_sleep_deadline_uses_6_18_nofail():
    from allocator.sched import Sched
    s = Sched(1)
    assert PA.sleep_deadline(s, GFP_KERNEL, 10.0, 2.0) == 12.0          # 0xcc0 has 2.6's NOFAIL bit
    assert PA.sleep_deadline(s, GFP_KERNEL | __GFP_NOFAIL, 10.0, 2.0) == math.inf


# -- the live 6.18 host (tests/data/linux-6.18/zoneinfo, captured by H1b on proc618) ---------

LIVE_MANAGED = (3840, 772807, 851968, 0, 0)
LIVE_MIN_FREE_KBYTES = 67584
LIVE = {  # zone: (min, low, high, promo), protection, (batch, high_min, high_max)
    "DMA": ((39, 48, 57, 66), (0, 3018, 6346, 6346, 6346), (1, 24, 240)),
    "DMA32": ((8017, 10021, 12025, 14029), (0, 0, 3328, 3328, 3328), (63, 5010, 48300)),
    "Normal": ((8838, 11047, 13256, 15465), (0, 0, 0, 0, 0), (63, 5523, 53248)),
    "Movable": ((32, 32, 32, 32), (0, 0, 0, 0, 0), None),
    "Device": ((0, 0, 0, 0), (0, 0, 0, 0, 0), None),
}


def test_the_live_hosts_watermarks_protection_and_pcp_from_its_managed_pages():
    pa = boot(8 * G)
    for z, managed in zip(pa.zones, LIVE_MANAGED, strict=True):
        z.managed = managed
    PA.set_min_free_kbytes(pa, LIVE_MIN_FREE_KBYTES)
    PA.setup_per_zone_lowmem_reserve(pa)
    for z in pa.zones:
        marks, protection, pcp = LIVE[z.name]
        assert tuple(z.watermark) == marks, z.name
        assert tuple(z.lowmem_reserve) == protection, z.name
        if pcp is not None:
            assert (z.pageset_batch, z.pageset_high_min, z.pageset_high_max) == pcp, z.name


def test_dma_free_pages_blocks_at_boot_is_the_live_3584():
    """DMA's 3840 free pages from 1 MiB: 256 at order 8, then 512 + 3 * 1024
    in blocks of pageblock size or more (nr_free_pages_blocks 3584 live)."""
    pa = boot(1 * G)
    dma = zone(pa, "DMA")
    assert dma.vm_stat["nr_free_pages"] == 3840
    assert dma.vm_stat["nr_free_pages_blocks"] == 3584


def snapshot(pa: PA.PageAllocator):
    return [(z.free_pages, [[list(fl) for fl in a.free_list] for a in z.free_area],
             [(p.count, p.high, p.free_count, p.alloc_factor, [list(lst) for lst in p.lists]) for p in z.pcp],
             dict(z.numa_stat), bytes(z.pageblock_flags), z.below_high, z.watermark_boost)
            for z in pa.zones] + [dict(pa.vm_events), dict(pa.alloc_order)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.sampled_from(GFPS), st.integers(0, 10 ** 6)),
                max_size=300))
def test_fast_path_is_the_general_path(ops):
    """alloc_pages' inline fast path leaves exactly the state the general
    path (get_page_from_freelist's first attempt) leaves."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PA, "out_of_memory", lambda pa, gfp, order: False)
        fast, slow = boot(64 * M), boot(64 * M)
        slow.slow = True
        held: list[list[tuple[int, int]]] = [[], []]
        for is_alloc, order, gfp, pick in ops:
            for i, pa in enumerate((fast, slow)):
                if is_alloc:
                    pfn = PA.alloc_pages(pa, gfp | __GFP_NOWARN, order)
                    if pfn is not None:
                        held[i].append((pfn, order))
                elif held[i]:
                    pfn, o = held[i].pop(pick % len(held[i]))
                    PA.__free_pages(pa, pfn, o)
            assert held[0] == held[1]
        assert snapshot(fast) == snapshot(slow)
