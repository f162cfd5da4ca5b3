"""Watermark arithmetic against values worked out by hand from 2.6 mm/page_alloc.c.

No FUSE. Every expected number below is a literal, computed in the comments from
the zone sizes of the simulated PC (i386, 4 KiB pages):

    DMA     [0, 16 MiB)      spanned 4096, present 4096 (i386 zone_sizes_init passes no
                             holes: the e820 hole 0x9f..0xff is reserved, not absent)
    Normal  [16, 896 MiB)    present = spanned
    HighMem [896 MiB, end)   present = spanned

    64M: DMA 4096, Normal 12288                 lowmem_pages = 16384
    1G:  DMA 4096, Normal 225280, HighMem 32768   lowmem_pages = 229376
    4G:  DMA 4096, Normal 225280, HighMem 819200  lowmem_pages = 229376

2.6.18 formulas (init_per_zone_pages_min, setup_per_zone_pages_min,
setup_per_zone_lowmem_reserve, zone_watermark_ok):

    min_free_kbytes = int_sqrt(lowmem_kbytes * 16), clamped to [128, 65536], where
        lowmem_kbytes = nr_free_buffer_pages() * 4 = sum of present_pages of the
        lowmem zones (pages_high is still 0 when it runs)
    pages_min = min_free_kbytes >> 2
    tmp = pages_min * present / lowmem_pages
    min = tmp (HighMem: clamp(present / 1024, 32, 128)); low = min + tmp/4; high = min + tmp/2
    lowmem_reserve[j] of a lower zone = (present of the zones above it up to j) / ratio,
        ratio 256 for DMA and 32 for Normal
    zone_watermark_ok: min -= min/2 with ALLOC_HIGH, then min -= min/4 with ALLOC_HARDER;
        fail if free - (1 << order) + 1 <= min + lowmem_reserve[classzone]; then per order
        below the request, take away the smaller blocks and halve min.
"""
from __future__ import annotations

import pytest

from allocator import gfp as G
from allocator.kernel import Kernel
from allocator.page_alloc import ALLOC_HARDER, ALLOC_HIGH, ALLOC_WMARK_MIN, MAX_ORDER, Node, Zone, zone_watermark_ok

MiB = 1 << 20
GiB = 1 << 30


@pytest.fixture
def boot(kernel):
    """boot(mem) -> a 1-CPU Kernel (the shared `kernel` fixture)."""
    def boot(mem: int) -> Kernel:
        return kernel(mem=mem, cpus=1)
    return boot


@pytest.fixture
def k64(boot):
    return boot(64 * MiB)


def marks(k) -> dict[str, tuple[int, int, int]]:
    return {z.name: (z.pages_min, z.pages_low, z.pages_high) for z in k.zones}


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("mem, present", [
    (64 * MiB, {"DMA": 4096, "Normal": 12288}),                      # 16384 - 4096
    (1 * GiB, {"DMA": 4096, "Normal": 225280, "HighMem": 32768}),    # 229376 - 4096; 262144 - 229376
    (4 * GiB, {"DMA": 4096, "Normal": 225280, "HighMem": 819200}),   # 1048576 - 229376
])
def test_zone_sizes_the_watermarks_are_computed_from(mem, present, boot):
    k = boot(mem)
    assert {z.name: z.present for z in k.zones} == present


# --------------------------------------------------------------------------- min_free_kbytes


@pytest.mark.parametrize("mem, expected", [
    # 64M: 16384 pages * 4 = 65536 kB; 65536 * 16 = 1048576 = 1024^2
    (64 * MiB, 1024),
    # 1G: 229376 pages * 4 = 917504 kB; * 16 = 14680064; 3831^2 = 14676561 <= it < 3832^2 = 14684224
    (1 * GiB, 3831),
    # 4G: the same lowmem (HighMem does not count): 3831
    (4 * GiB, 3831),
])
def test_default_min_free_kbytes_is_int_sqrt_of_16_times_lowmem_kbytes(mem, expected, boot):
    k = boot(mem)
    assert k.min_free_kbytes == expected


# --------------------------------------------------------------------------- pages_min/low/high


def test_watermarks_of_64m(k64):
    k64.set_min_free_kbytes(1024)   # the 2.6 default for 64M (see above)
    # pages_min = 1024 >> 2 = 256; lowmem_pages = 4096 + 12288 = 16384
    # DMA:    tmp = 256 * 4096 / 16384 = 64    -> 64, 64 + 16, 64 + 32
    # Normal: tmp = 256 * 12288 / 16384 = 192  -> 192, 192 + 48, 192 + 96
    assert marks(k64) == {"DMA": (64, 80, 96), "Normal": (192, 240, 288)}


@pytest.mark.parametrize("mem, highmem", [
    # HighMem 32768 pages: tmp = 957 * 32768 / 229376 = 31358976 / 229376 = 136;
    # min = clamp(32768 / 1024 = 32, 32, 128) = 32 -> 32, 32 + 34, 32 + 68
    (1 * GiB, (32, 66, 100)),
    # HighMem 819200 pages: tmp = 957 * 819200 / 229376 = 783974400 / 229376 = 3417;
    # min = clamp(819200 / 1024 = 800, 32, 128) = 128 -> 128, 128 + 854, 128 + 1708
    (4 * GiB, (128, 982, 1836)),
])
def test_watermarks_of_1g_and_4g(mem, highmem, boot):
    k = boot(mem)
    k.set_min_free_kbytes(3831)     # the 2.6 default for both (see above)
    # pages_min = 3831 >> 2 = 957; lowmem_pages = 4096 + 225280 = 229376
    # DMA:    tmp = 957 * 4096 / 229376 = 3919872 / 229376 = 17       -> 17, 17 + 4, 17 + 8
    # Normal: tmp = 957 * 225280 / 229376 = 215592960 / 229376 = 939  -> 939, 939 + 234, 939 + 469
    assert marks(k) == {"DMA": (17, 21, 25), "Normal": (939, 1173, 1408), "HighMem": highmem}


def test_writing_min_free_kbytes_recomputes_the_watermarks(k64):
    k64.set_min_free_kbytes(4096)
    # pages_min = 1024; DMA tmp = 1024 * 4096 / 16384 = 256;
    # Normal tmp = 1024 * 12288 / 16384 = 768
    assert marks(k64) == {"DMA": (256, 256 + 64, 256 + 128), "Normal": (768, 768 + 192, 768 + 384)}
    k64.set_min_free_kbytes(128)    # the floor of the default
    # pages_min = 32; DMA tmp = 32 * 4096 / 16384 = 8; Normal tmp = 32 * 12288 / 16384 = 24
    assert marks(k64) == {"DMA": (8, 10, 12), "Normal": (24, 30, 36)}
    # lowmem_reserve does not depend on min_free_kbytes
    assert [z.lowmem_reserve for z in k64.zones] == [[0, 48, 48], [0, 0, 0]]


# --------------------------------------------------------------------------- lowmem_reserve


@pytest.mark.parametrize("mem, expected", [
    # 64M: DMA[1] = 12288 / 256 = 48; no HighMem, so DMA[2] = (0 + 12288) / 256 = 48
    (64 * MiB, [[0, 48, 48], [0, 0, 0]]),
    # 1G: DMA[1] = 225280 / 256 = 880; DMA[2] = (32768 + 225280) / 256 = 1008;
    #     Normal[2] = 32768 / 32 = 1024
    (1 * GiB, [[0, 880, 1008], [0, 0, 1024], [0, 0, 0]]),
    # 4G: DMA[2] = (819200 + 225280) / 256 = 4080; Normal[2] = 819200 / 32 = 25600
    (4 * GiB, [[0, 880, 4080], [0, 0, 25600], [0, 0, 0]]),
])
def test_lowmem_reserve_uses_the_ratios_256_and_32(mem, expected, boot):
    k = boot(mem)
    assert [z.lowmem_reserve for z in k.zones] == expected


# --------------------------------------------------------------------------- zone_watermark_ok


def zone(free: int, reserve=(0, 0, 0), blocks: dict | None = None) -> Zone:
    """A zone holding `free` pages; `blocks` {order: count} lays them out (default:
    all order 0)."""
    z = Zone(node=Node(0, 0, free), idx=1, start_pfn=0, spanned=free)
    z.free_pages = free
    z.lowmem_reserve = list(reserve)
    layout = blocks if blocks is not None else {0: free}
    pfn = 0
    for order, count in layout.items():
        for _ in range(count):
            z.free_area[order][pfn] = None
            pfn += 1 << order
    assert pfn == free and len(z.free_area) == MAX_ORDER
    return z


ok = zone_watermark_ok


@pytest.mark.parametrize("flags, floor", [
    (ALLOC_WMARK_MIN, 192),                              # GFP_KERNEL's second pass: min itself
    (ALLOC_WMARK_MIN | ALLOC_HIGH, 96),                  # __GFP_HIGH that may sleep: 192 - 96
    (ALLOC_WMARK_MIN | ALLOC_HARDER, 144),               # GFP_NOWAIT: 192 - 48
    (ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER, 72),   # GFP_ATOMIC: 96 - 24 = 3/8 of 192
])
def test_zone_watermark_ok_lowers_min_for_alloc_high_and_alloc_harder(flags, floor):
    # the 64M Normal zone's min, 192: an order-0 page may be taken while free > floor
    assert ok(zone(floor + 1), 0, 192, 1, flags)
    assert not ok(zone(floor), 0, 192, 1, flags)


@pytest.mark.parametrize("classzone, flags, floor", [
    (1, ALLOC_WMARK_MIN, 62 + 48),                        # a Normal request falling back to DMA
    (1, ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER, 24 + 48),   # 62 - 31 = 31, 31 - 7 = 24
    (0, ALLOC_WMARK_MIN, 62),                             # a __GFP_DMA request: no reserve
    (0, ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER, 24),
])
def test_zone_watermark_ok_adds_the_lowmem_reserve_of_the_classzone(classzone, flags, floor):
    dma_reserve = (0, 48, 48)  # the 64M DMA zone; its min is 62
    assert ok(zone(floor + 1, dma_reserve), 0, 62, classzone, flags)
    assert not ok(zone(floor, dma_reserve), 0, 62, classzone, flags)


def test_zone_watermark_ok_for_higher_orders_discounts_the_smaller_blocks():
    # order 2 against min 192, 400 free pages
    # all order 0: 400 - 4 + 1 = 397 > 192, but 397 - 400 = -3 <= 192/2 at order 0 -> no
    assert not ok(zone(400), 2, 192, 1, ALLOC_WMARK_MIN)
    # 100 order-0 + 75 order-2 blocks: 397 > 192; 397 - 100 = 297 > 96; 297 - 0 > 48 -> yes
    assert ok(zone(400, blocks={0: 100, 2: 75}), 2, 192, 1, ALLOC_WMARK_MIN)
    # 200 order-0 + 50 order-2 blocks: 397 - 200 = 197 > 96; then 197 > 48 -> yes
    assert ok(zone(400, blocks={0: 200, 2: 50}), 2, 192, 1, ALLOC_WMARK_MIN)
    # 300 order-0 + 50 order-1 blocks: 397 - 300 = 97 > 96; then 97 - 100 = -3 <= 48 -> no
    assert not ok(zone(400, blocks={0: 300, 1: 50}), 2, 192, 1, ALLOC_WMARK_MIN)


# zone_watermark_ok (mm/page_alloc.c, 2.6.18):
#     long min = mark, free_pages = z->free_pages - (1 << order) + 1;
#     if (alloc_flags & ALLOC_HIGH)   min -= min / 2;
#     if (alloc_flags & ALLOC_HARDER) min -= min / 4;
#     if (free_pages <= min + z->lowmem_reserve[classzone_idx]) return 0;
#     for (o = 0; o < order; o++) {
#             free_pages -= z->free_area[o].nr_free << o;
#             min >>= 1;
#             if (free_pages <= min) return 0;
#     }
#     return 1;
# With the free lists fixed, free_pages at step o is 1 more than a multiple of
# 2^(o+1), so the boundary is pinned by the mark: the largest mark that passes
# leaves free_pages == min + 1 at step o, one more makes it == min.
PER_ORDER_BOUNDARY = [
    # blocks {order: count}, request order, largest mark that passes, step that fails above it
    # 200 + 100 = 300 free; order 1: 300 - 2 + 1 = 299 > 198; o=0: 299 - 200 = 99,
    #   mark 197: min 98 < 99 -> ok; mark 198: min 99 = 99 -> fail
    ({0: 200, 1: 50}, 1, 197),
    # 300 + 100 = 400 free; order 2: 397 > 388; o=0: 397 - 0 = 397 > 194;
    #   o=1: 397 - 300 = 97, mark 387: min 387 >> 2 = 96 -> ok; 388: min 97 -> fail
    ({1: 150, 2: 25}, 2, 387),
    # 300 + 150 + 80 + 80 = 610 free; order 3: 603 > 584; o=0: 603 - 300 = 303 > 292;
    #   o=1: 303 - 150 = 153 > 146; o=2: 153 - 80 = 73, mark 583: min 72 -> ok; 584: 73 -> fail
    ({0: 300, 1: 75, 2: 20, 3: 10}, 3, 583),
    # 100 + 80 = 180 free; order 3: 173 > 146; o=0: 173 - 100 = 73, mark 145: min 72 -> ok;
    #   146: min 73 -> fail (o=1, o=2: 73 > 36, 18)
    ({0: 100, 3: 10}, 3, 145),
    # 2080 + 96 = 2176 free; order 5: 2176 - 31 = 2145 > 2080; o=0..3 take nothing away:
    #   2145 > 1040, 520, 260, 130; o=4: 2145 - 2080 = 65, mark 2079: min 2079 >> 5 = 64 -> ok;
    #   2080: min 65 -> fail
    ({4: 130, 5: 3}, 5, 2079),
    # the largest order, 10: 2100 * 512 + 2048 = 1077248 free; 1077248 - 1023 = 1076225 >
    #   1049600; o=0..8 take nothing away; o=9: 1076225 - 1075200 = 1025,
    #   mark 1049599: min 1049599 >> 10 = 1024 -> ok; 1049600: min 1025 -> fail
    ({9: 2100, 10: 2}, 10, 1049599),
]


@pytest.mark.parametrize("blocks, order, mark", PER_ORDER_BOUNDARY)
def test_zone_watermark_ok_fails_when_free_pages_at_an_order_is_min_exactly(blocks, order, mark):
    """zone_watermark_ok (mm/page_alloc.c, 2.6.18), the per-order loop: `if (free_pages
    <= min) return 0`, min halved at each order below the request."""
    free = sum(count << o for o, count in blocks.items())
    z = zone(free, blocks=blocks)
    assert ok(z, order, mark, 1, ALLOC_WMARK_MIN)             # free_pages == min + 1
    assert not ok(z, order, mark + 1, 1, ALLOC_WMARK_MIN)     # free_pages == min


@pytest.mark.parametrize("classzone, reserve, mark", [
    # 28 order-2 blocks, 112 pages; order 2: 112 - 4 + 1 = 109; the loop takes nothing
    # away (no order-0 or order-1 blocks) and only halves min
    (1, (0, 48, 48), 60),     # 109 > 60 + 48 -> ok; 109 <= 61 + 48 -> fail
    (0, (0, 48, 48), 108),    # classzone 0 (DMA) has no reserve: 109 > 108; 109 <= 109
    (2, (0, 48, 100), 8),     # 109 > 8 + 100; 109 <= 9 + 100
])
def test_zone_watermark_ok_first_check_counts_the_order_and_the_lowmem_reserve(
        classzone, reserve, mark):
    """zone_watermark_ok (mm/page_alloc.c, 2.6.18): `free_pages = z->free_pages - (1 <<
    order) + 1; if (free_pages <= min + z->lowmem_reserve[classzone_idx]) return 0`."""
    z = zone(112, reserve, blocks={2: 28})
    assert ok(z, 2, mark, classzone, ALLOC_WMARK_MIN)
    assert not ok(z, 2, mark + 1, classzone, ALLOC_WMARK_MIN)


@pytest.mark.parametrize("mark, flags, floor", [
    # odd marks: C's `min -= min / 2` rounds the half down, so what is left rounds up
    (63, ALLOC_WMARK_MIN, 63),
    (63, ALLOC_WMARK_MIN | ALLOC_HIGH, 32),                   # 63 - 31
    (63, ALLOC_WMARK_MIN | ALLOC_HARDER, 48),                 # 63 - 15
    (63, ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER, 24),    # 32 - 8
    (13, ALLOC_WMARK_MIN | ALLOC_HIGH, 7),                    # 13 - 6
    (13, ALLOC_WMARK_MIN | ALLOC_HARDER, 10),                 # 13 - 3
    (13, ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER, 6),     # 7 - 1: ALLOC_HIGH first
                                                              # (13 - 3 = 10, 10 - 5 = 5 the other way)
])
def test_zone_watermark_ok_alloc_high_and_harder_round_as_c_integer_division(mark, flags, floor):
    """zone_watermark_ok (mm/page_alloc.c, 2.6.18): `min -= min / 2` (ALLOC_HIGH), then
    `min -= min / 4` (ALLOC_HARDER); an order-0 page needs free_pages > min."""
    assert ok(zone(floor + 1), 0, mark, 1, flags)
    assert not ok(zone(floor), 0, mark, 1, flags)


def test_zone_watermark_ok_halves_the_lowered_min_at_each_order():
    """zone_watermark_ok (mm/page_alloc.c, 2.6.18): ALLOC_HIGH and ALLOC_HARDER lower min
    before the per-order loop, so the loop halves the lowered min."""
    z = zone(138, blocks={0: 100, 1: 19})
    # order 1: 138 - 2 + 1 = 137; o=0: 137 - 100 = 37 must be > min >> 1
    assert ok(z, 1, 73, 1, ALLOC_WMARK_MIN)          # 73 >> 1 = 36
    assert not ok(z, 1, 74, 1, ALLOC_WMARK_MIN)      # 74 >> 1 = 37
    both = ALLOC_WMARK_MIN | ALLOC_HIGH | ALLOC_HARDER
    assert ok(z, 1, 194, 1, both)                    # 194 - 97 = 97, 97 - 24 = 73; 73 >> 1 = 36
    assert not ok(z, 1, 195, 1, both)                # 195 - 97 = 98, 98 - 24 = 74; 74 >> 1 = 37


# --------------------------------------------------------------------------- through alloc_pages


def exhaust(k, gfp: int) -> int:
    n = 0
    while k.alloc_pages(gfp | G.__GFP_NOWARN, 0) is not None:
        n += 1
    return n


def test_each_mask_stops_at_its_own_floor_in_zone_dma(k64):
    # ZONE_DMA of 64M has per-CPU batch 1 and high 0, so order-0 allocations move
    # the zone's free count one page at a time and the floors are exact.
    k64.set_min_free_kbytes(1024)
    dma = k64.zones[0]
    assert dma.pages_min == 64
    assert exhaust(k64, G.GFP_KERNEL | G.__GFP_DMA) > 0
    assert dma.free_pages == 64                                  # ALLOC_WMARK_MIN
    assert exhaust(k64, G.GFP_NOWAIT | G.__GFP_DMA) == 64 - 48
    assert dma.free_pages == 48                                  # ALLOC_HARDER: 64 - 16
    assert exhaust(k64, G.__GFP_WAIT | G.__GFP_HIGH | G.__GFP_DMA) == 48 - 32
    assert dma.free_pages == 32                                  # ALLOC_HIGH: 64 - 32
    assert exhaust(k64, G.GFP_ATOMIC | G.__GFP_DMA) == 32 - 24
    assert dma.free_pages == 24                                  # both: 32 - 8
    assert exhaust(k64, G.GFP_ATOMIC | G.__GFP_DMA) == 0


@pytest.mark.parametrize("gfp, normal_floor, dma_floor", [
    (G.GFP_KERNEL, 192, 64 + 48),
    (G.GFP_ATOMIC, 72, 24 + 48),
])
def test_normal_requests_leave_the_lowmem_reserve_in_zone_dma(k64, gfp, normal_floor, dma_floor):
    k64.set_min_free_kbytes(1024)
    dma, normal = k64.zones
    exhaust(k64, gfp)
    assert dma.free_pages == dma_floor
    # Normal stops at its floor, less at most what one per-CPU refill took in bulk
    # after the last check that passed (batch 3 for 12288 present pages)
    assert normal_floor - 3 < normal.free_pages <= normal_floor
