"""mempool of Linux 6.18 (allocator/linux618/mempool.py) against mm/mempool.c
and include/linux/mempool.h of 6.12.117 and the reference §7.1.

The masks an element allocator sees are worked out from the source's rules
(gfp |= __GFP_NOMEMALLOC|__GFP_NORETRY|__GFP_NOWARN; the first round without
__GFP_DIRECT_RECLAIM|__GFP_IO) with the 6.18 bit values of
include/linux/gfp_types.h, not from the simulator's helpers."""
from __future__ import annotations

from types import MethodType
from typing import Any

import pytest

from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618 import mempool as MP
from allocator.linux618 import page_alloc as PA
from allocator.linux618 import slub as SL
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched, set_current
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat

GFP_KERNEL = 0xCC0       # __GFP_RECLAIM (0xc00) | __GFP_IO (0x40) | __GFP_FS (0x80)
GFP_ATOMIC = 0x820       # __GFP_HIGH | __GFP_KSWAPD_RECLAIM
GFP_NOIO = 0xC00         # __GFP_RECLAIM
GFP_NOWAIT = 0x2800      # __GFP_KSWAPD_RECLAIM | __GFP_NOWARN
__GFP_ZERO = 0x100
FORCED = 0x80000 | 0x10000 | 0x2000     # __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN
NO_RECLAIM_IO = ~(0x400 | 0x40)         # ~(__GFP_DIRECT_RECLAIM | __GFP_IO)


class Parts:
    def __init__(self, mem: int = 64 << 20, cpus: int = 2, debug_vm: bool = False):
        self.log = KernelLog(clock=lambda: 0.0)
        self.sched = Sched(cpus, self.log.uptime)
        vm = VmStat()
        faults = FaultInject(self.log)
        trace = KmemTrace()
        vmscan = Vmscan(vm)
        self.pa = PA.PageAllocator(X86_64, PhysMem(mem), self.log, self.sched, vm, faults, trace, vmscan, 1)
        self.sl = SL.SlabAllocator(X86_64, self.pa, self.log, self.sched, vm, faults, trace, vmscan, "")
        SL.kmem_cache_init(self.sl)
        self.mp = MP.Mempools(self.sl, self.pa, self.log, self.sched, debug_vm=debug_vm)
        set_current(self.sched, 100, "writer")

    def dmesg(self) -> str:
        return "\n".join(r.text for r in self.log.records)


@pytest.fixture
def parts() -> Parts:
    return Parts()


class Recorder:
    """An element allocator that records each mask it is called with and fails
    while `fail` is set; elements are 1, 2, 3, ..."""

    def __init__(self) -> None:
        self.masks: list[int] = []
        self.fail = False
        self.next = 0
        self.freed: list[int] = []

    def alloc(self, gfp: int, data: Any) -> int | None:
        self.masks.append(gfp)
        if self.fail:
            return None
        self.next += 1
        return self.next

    def free(self, element: int, data: Any) -> None:
        self.freed.append(element)


def _pool(parts: Parts, min_nr: int) -> tuple[MP.Mempool, Recorder]:
    r = Recorder()
    pool = MP.mempool_create(parts.mp, min_nr, r.alloc, r.free, None)
    assert pool is not None
    return pool, r


def test_create_kmallocs_the_pool_and_its_element_array(parts):
    pool, r = _pool(parts, 4)
    # mempool_t is 72 bytes on x86_64 (kmalloc-96), elements[4] 32 bytes (kmalloc-32)
    assert SL.ksize(parts.sl, pool.addr) == 96
    assert SL.ksize(parts.sl, pool.elements_addr) == 32
    # the pre-fill: min_nr elements from alloc_fn(GFP_KERNEL)
    assert r.masks == [GFP_KERNEL] * 4 and pool.curr_nr == 4


def test_create_fails_whole_when_a_prefill_element_fails(parts):
    r = Recorder()
    calls = []

    def alloc(gfp: int, data: Any) -> int | None:
        calls.append(gfp)
        return None if len(calls) == 3 else r.alloc(gfp, data)
    assert MP.mempool_create(parts.mp, 5, alloc, r.free, None) is None
    assert r.freed == [2, 1]         # mempool_exit gives back what the pre-fill got, last first


def test_create_with_a_negative_min_nr(parts, monkeypatch):
    # 6.12: (size_t)-1 * sizeof(void *) overflows, kmalloc_array returns NULL
    r = Recorder()
    monkeypatch.setattr(MP, "ZERO_MIN_FIX", False)
    assert MP.mempool_create(parts.mp, -1, r.alloc, r.free, None) is None
    pool = MP.mempool_create(parts.mp, 0, r.alloc, r.free, None)
    assert pool is not None and pool.curr_nr == 0
    assert pool.elements_addr == 16          # kmalloc(0): ZERO_SIZE_PTR
    # the zero-minimum fix sizes the array max(1, min_nr): one slot, kmalloc-8
    monkeypatch.setattr(MP, "ZERO_MIN_FIX", True)
    pool = MP.mempool_create(parts.mp, 0, r.alloc, r.free, None)
    assert pool is not None and SL.ksize(parts.sl, pool.elements_addr) == 8
    assert r.masks == []


def test_alloc_asks_without_reclaim_first_then_takes_the_reserve_lifo(parts):
    pool, r = _pool(parts, 3)
    r.masks.clear()
    r.fail = True
    # GFP_KERNEL | NOMEMALLOC | NORETRY | NOWARN without DIRECT_RECLAIM | IO
    first = (GFP_KERNEL | FORCED) & NO_RECLAIM_IO
    assert first == 0x92880
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == 3      # the last element in
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == 2
    assert r.masks == [first, first]
    r.fail = False
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == 4      # the allocator, still first-round mask
    assert r.masks[-1] == first and pool.curr_nr == 1


def test_empty_reserve_retries_at_once_with_the_full_mask_then_sleeps(parts):
    pool, r = _pool(parts, 1)
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == 2
    r.fail = True
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == 1      # the reserve
    r.masks.clear()
    parts.sched.sleep_ok = True
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) is None
    # 6.x: the full-mask try comes before the sleep (2.6.18 slept first)
    assert r.masks == [(GFP_KERNEL | FORCED) & NO_RECLAIM_IO, GFP_KERNEL | FORCED]
    assert parts.sched.sleep_request == (GFP_KERNEL, 0, pool)
    # after the sleep the task goes on with the full mask (goto repeat_alloc)
    r.masks.clear()
    parts.sched.sleep_request = None
    r.fail = False
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == 3
    assert r.masks == [GFP_KERNEL | FORCED]
    # and the next call starts from the first round again
    r.masks.clear()
    MP.mempool_alloc(parts.mp, pool, GFP_KERNEL)
    assert r.masks == [(GFP_KERNEL | FORCED) & NO_RECLAIM_IO]


def test_atomic_and_nowait_never_sleep_and_ask_only_once(parts):
    pool, r = _pool(parts, 1)
    r.fail = True
    MP.mempool_alloc(parts.mp, pool, GFP_ATOMIC)      # the reserve
    parts.sched.sleep_ok = True
    for gfp in (GFP_ATOMIC, GFP_NOWAIT):
        r.masks.clear()
        assert MP.mempool_alloc(parts.mp, pool, gfp) is None
        # no __GFP_DIRECT_RECLAIM|__GFP_IO to drop: gfp_temp == gfp_mask, no second round
        assert r.masks == [gfp | FORCED]
        assert parts.sched.sleep_request is None


def test_noio_drops_only_direct_reclaim_in_the_first_round(parts):
    pool, r = _pool(parts, 0)
    r.fail = True
    parts.sched.sleep_ok = True
    assert MP.mempool_alloc(parts.mp, pool, GFP_NOIO) is None
    assert r.masks == [0x92800, 0x92C00]
    assert parts.sched.sleep_request is not None and parts.sched.sleep_request[0] == GFP_NOIO


def test_without_sleep_ok_a_reclaiming_alloc_fails_after_the_full_mask_round(parts):
    pool, r = _pool(parts, 0)
    r.fail = True
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) is None
    assert len(r.masks) == 2 and parts.sched.sleep_request is None


def test_free_refills_the_reserve_and_wakes_sleepers_else_frees(parts):
    pool, r = _pool(parts, 2)
    r.fail = True
    a = MP.mempool_alloc(parts.mp, pool, GFP_KERNEL)
    b = MP.mempool_alloc(parts.mp, pool, GFP_KERNEL)
    woken = []
    MP.mempool_add_waiter(parts.mp, pool, lambda: woken.append(1))
    MP.mempool_free(parts.mp, a, pool)
    assert pool.curr_nr == 1 and woken == [1] and pool.wait == []
    MP.mempool_free(parts.mp, b, pool)
    assert pool.curr_nr == 2 and r.freed == []
    MP.mempool_free(parts.mp, 99, pool)              # the reserve is full: free_fn
    assert r.freed == [99]
    MP.mempool_free(parts.mp, None, pool)            # NULL: nothing
    assert r.freed == [99]


def test_zero_min_pool_keeps_one_freed_element_for_sleepers(parts):
    pool, r = _pool(parts, 0)
    MP.mempool_free(parts.mp, 7, pool)
    assert pool.curr_nr == 1 and r.freed == []
    MP.mempool_free(parts.mp, 8, pool)
    assert r.freed == [8]
    r.fail = True
    assert MP.mempool_alloc(parts.mp, pool, GFP_ATOMIC) == 7


def test_resize_has_no_gfp_and_bugs_on_zero(parts):
    pool, r = _pool(parts, 2)
    with pytest.raises(TypeError):
        MP.mempool_resize(parts.mp, pool, 4, GFP_KERNEL)  # type: ignore[call-arg]
    assert MP.mempool_resize(parts.mp, pool, 0) < 0
    assert "kernel BUG at mm/mempool.c:334!" in parts.dmesg()
    assert "Oops: invalid opcode: 0000 [#1]" in parts.dmesg()
    assert pool.min_nr == 2 and pool.curr_nr == 2


def test_resize_grows_with_gfp_kernel_and_shrinks_lifo(parts):
    pool, r = _pool(parts, 2)
    r.masks.clear()
    old_array = pool.elements_addr
    assert MP.mempool_resize(parts.mp, pool, 5) == 0
    assert r.masks == [GFP_KERNEL] * 3 and pool.curr_nr == 5
    assert SL.ksize(parts.sl, pool.elements_addr) == 64     # elements[5]: 40 bytes, kmalloc-64
    assert pool.elements_addr != old_array
    # a short fill is not an error
    r.fail = True
    assert MP.mempool_resize(parts.mp, pool, 8) == 0 and pool.curr_nr == 5 and pool.min_nr == 8
    assert MP.mempool_resize(parts.mp, pool, 3) == 0
    assert r.freed == [5, 4] and pool.curr_nr == 3 and pool.min_nr == 3


def test_destroy_null_is_a_noop_and_outstanding_elements_are_no_bug(parts):
    assert MP.mempool_destroy(parts.mp, None)
    pool, r = _pool(parts, 3)
    MP.mempool_alloc(parts.mp, pool, GFP_KERNEL)    # one element still out
    assert MP.mempool_destroy(parts.mp, pool)
    assert "BUG" not in parts.dmesg()
    assert sorted(r.freed) == [1, 2, 3] and pool.curr_nr == 0


def test_destroy_gives_back_the_pool_and_the_array(parts):
    s96 = SL.kmalloc_slab(parts.sl, 96, GFP_KERNEL)
    before = len(s96.live)
    pool, r = _pool(parts, 1)
    assert len(s96.live) == before + 1
    MP.mempool_destroy(parts.mp, pool)
    assert len(s96.live) == before


def test_gfp_zero_warns_once_only_with_debug_vm():
    quiet = Parts()
    pool, _ = _pool(quiet, 1)
    MP.mempool_alloc(quiet.mp, pool, GFP_KERNEL | __GFP_ZERO)
    assert "WARNING" not in quiet.dmesg()        # CONFIG_DEBUG_VM is off on the 6.18 host
    loud = Parts(debug_vm=True)
    pool, _ = _pool(loud, 1)
    MP.mempool_alloc(loud.mp, pool, GFP_KERNEL | __GFP_ZERO)
    MP.mempool_alloc(loud.mp, pool, GFP_KERNEL | __GFP_ZERO)
    text = loud.dmesg()
    assert text.count("WARNING: CPU:") == 1
    assert "at mm/mempool.c:411 mempool_alloc_noprof" in text


def test_kmalloc_slab_and_page_pools(parts):
    pool = MP.mempool_create_kmalloc_pool(parts.mp, 2, 200)
    assert pool is not None
    assert [SL.ksize(parts.sl, e) for e in pool.elements] == [256, 256]
    kc = SL.kmem_cache_create(parts.sl, "demo_pool", 1000, 0, 0)
    sp = MP.mempool_create_slab_pool(parts.mp, 3, kc)
    assert sp is not None and len(kc.live) == 3
    pp = MP.mempool_create_page_pool(parts.mp, 2, 1)
    assert pp is not None
    for pfn in pp.elements:
        assert parts.pa.alloc_order[pfn] == 1
    e = MP.mempool_alloc(parts.mp, pp, GFP_KERNEL)
    MP.mempool_free(parts.mp, e, pp)
    for p in (pool, sp, pp):
        assert MP.mempool_destroy(parts.mp, p)
    assert len(kc.live) == 0


def test_impossible_kmalloc_pool_fails_in_the_prefill(parts):
    # KMALLOC_MAX_SIZE is 4 MiB (order 10): no size check, kmalloc fails
    assert MP.mempool_create_kmalloc_pool(parts.mp, 1, (4 << 20) + 1) is None


def test_preallocated_takes_only_the_reserve(parts):
    pool, r = _pool(parts, 1)
    r.masks.clear()
    assert MP.mempool_alloc_preallocated(parts.mp, pool) == 1
    assert MP.mempool_alloc_preallocated(parts.mp, pool) is None
    assert r.masks == []


def test_sleep_request_names_the_element_order(parts):
    pp = MP.mempool_create_page_pool(parts.mp, 0, 3)
    assert pp is not None
    pp.alloc = MethodType(lambda mp, gfp, data: None, parts.mp)
    parts.sched.sleep_ok = True
    # the pool's alloc is no longer mempool_alloc_pages: order unknown, 0
    MP.mempool_alloc(parts.mp, pp, GFP_KERNEL)
    assert parts.sched.sleep_request == (GFP_KERNEL, 0, pp)
    pp.alloc = MethodType(MP.mempool_alloc_pages, parts.mp)
    assert MP.mempool_element_order(parts.mp, pp) == 3


def test_kvmalloc_pool_falls_back_to_vmalloc(parts):
    from allocator.arch.x86_64 import X86_64 as ARCH
    from allocator.linux618 import vmalloc as VM
    parts.mp.vmalloc = VM.Vmalloc(ARCH, parts.pa, parts.sl, parts.pa.mem, parts.log)
    # 8 MiB elements: above KMALLOC_MAX_SIZE, so vmalloc'd
    pool = MP.mempool_create_kvmalloc_pool(parts.mp, 1, 8 << 20)
    assert pool is not None
    [e] = pool.elements
    assert VM.is_vmalloc_addr(parts.mp.vmalloc, e)
    small = MP.mempool_create_kvmalloc_pool(parts.mp, 1, 100)
    assert small is not None and not VM.is_vmalloc_addr(parts.mp.vmalloc, small.elements[0])
    MP.mempool_destroy(parts.mp, pool)
    MP.mempool_destroy(parts.mp, small)
    assert VM.get_vmalloc_info(parts.mp.vmalloc)[1] == 0


def test_under_memory_pressure_the_reserve_serves_then_the_task_sleeps(parts):
    # a page pool of order 2; then all memory taken, order by order
    pool = MP.mempool_create_page_pool(parts.mp, 2, 2)
    assert pool is not None
    reserve = list(pool.elements)
    held = []
    for order in range(10, -1, -1):
        while (pfn := PA.alloc_pages(parts.pa, 0x820 | 0x2000, order)) is not None:   # GFP_ATOMIC|NOWARN
            held.append((pfn, order))
    assert PA.alloc_pages(parts.pa, 0x820 | 0x2000, 2) is None
    # the reserve, last element first; no OOM kill (NORETRY), no failure report (NOWARN)
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == reserve[-1]
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == reserve[0]
    parts.sched.sleep_ok = True
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) is None
    assert parts.sched.sleep_request == (GFP_KERNEL, 2, pool)
    text = parts.dmesg()
    assert "Out of memory" not in text and "page allocation failure" not in text
    # a freed element refills the reserve and wakes the sleeper, who then gets it
    woken = []
    MP.mempool_add_waiter(parts.mp, pool, lambda: woken.append(True))
    MP.mempool_free(parts.mp, reserve[0], pool)
    assert woken == [True]
    assert MP.mempool_alloc(parts.mp, pool, GFP_KERNEL) == reserve[0]
    for pfn, order in held:
        PA.__free_pages(parts.pa, pfn, order)
