"""Differential tests of the page allocator against the 2.6.18 source.

Expected values are transcribed from the 2.6.18 source (rocklee104/linux-2.6.18,
4ba3a12d) in each test, never computed by the simulator's helpers.
"""
from __future__ import annotations

import math

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
