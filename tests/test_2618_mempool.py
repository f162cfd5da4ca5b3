"""mempool_alloc / mempool_create against 2.6.18 mm/mempool.c (rocklee104/linux-2.6.18
at 4ba3a12d). The mask sequence below is transcribed from mempool_alloc:

    gfp_mask |= __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN;
    gfp_temp = gfp_mask & ~(__GFP_WAIT|__GFP_IO);
repeat_alloc:
    element = pool->alloc(gfp_temp, pool->pool_data);   if (element) return element;
    if (pool->curr_nr) return remove_element(pool);
    if (!(gfp_mask & __GFP_WAIT)) return NULL;
    gfp_temp = gfp_mask;
    prepare_to_wait(&pool->wait, ...); if (!pool->curr_nr) io_schedule_timeout(5*HZ);
    finish_wait(...); goto repeat_alloc;

The simulator cannot block: the sleep is the sleep_request handshake (sched.py),
after which the caller calls mempool_alloc again.
"""
from __future__ import annotations

from allocator import Kernel
from allocator import gfp as G
from allocator.mempool import MEMPOOL_SLEEP_TIMEOUT

ALWAYS = G.__GFP_NOMEMALLOC | G.__GFP_NORETRY | G.__GFP_NOWARN


def first_pass(gfp: int) -> int:
    return (gfp | ALWAYS) & ~(G.__GFP_WAIT | G.__GFP_IO)


def after_sleep(gfp: int) -> int:
    return gfp | ALWAYS


class Source:
    def __init__(self, k: Kernel):
        self.k = k
        self.failing = False
        self.masks: list[int] = []

    def alloc(self, gfp, size):
        self.masks.append(gfp)
        return None if self.failing else self.k.kmalloc(size, gfp & ~G.F.HIGHMEM)

    def free(self, element, size):
        self.k.kfree(element)


def setup(kernel, min_nr: int = 1):
    k = kernel(mem=16 << 20, cpus=2)
    src = Source(k)
    pool = k.mempool_create(min_nr, src.alloc, src.free, 64)
    assert pool is not None
    src.masks.clear()
    return k, src, pool


def test_io_schedule_timeout_is_five_seconds():
    assert MEMPOOL_SLEEP_TIMEOUT == 5.0   # io_schedule_timeout(5*HZ)


def test_empty_reserve_sleeps_first_then_every_pass_uses_the_full_mask(kernel):
    k, src, pool = setup(kernel, 1)
    src.failing = True
    k.set_current(7)
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is not None        # the reserve
    assert src.masks == [first_pass(G.GFP_KERNEL)]
    src.masks.clear()
    k.sleep_ok = True
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None            # sleeps before any reclaim
    assert src.masks == [first_pass(G.GFP_KERNEL)]
    assert k.sleep_request == (G.GFP_KERNEL, 0, pool)
    src.masks.clear()
    k.sleep_request = None
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None            # woken (5 s), retried, asleep again
    assert src.masks == [after_sleep(G.GFP_KERNEL)]                 # gfp_temp = gfp_mask
    assert k.sleep_request == (G.GFP_KERNEL, 0, pool)
    src.masks.clear()
    src.failing = False
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is not None
    assert src.masks == [after_sleep(G.GFP_KERNEL)]
    src.masks.clear()
    k.mempool_alloc(pool, G.GFP_KERNEL)                              # a new call starts over
    assert src.masks == [first_pass(G.GFP_KERNEL)]


def test_the_full_mask_is_per_sleeping_task(kernel):
    k, src, pool = setup(kernel, 1)
    src.failing = True
    k.mempool_alloc(pool, G.GFP_KERNEL)
    k.sleep_ok = True
    k.set_current(10)
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None
    k.set_current(11)                                               # another task: its own first pass
    src.masks.clear()
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None
    assert src.masks == [first_pass(G.GFP_KERNEL)]
    k.set_current(10)
    src.masks.clear()
    k.mempool_alloc(pool, G.GFP_KERNEL)
    assert src.masks == [after_sleep(G.GFP_KERNEL)]


def test_gfp_atomic_never_sleeps_and_never_uses_the_full_mask(kernel):
    k, src, pool = setup(kernel, 1)
    src.failing = True
    k.sleep_ok = True
    k.mempool_alloc(pool, G.GFP_ATOMIC)
    src.masks.clear()
    assert k.mempool_alloc(pool, G.GFP_ATOMIC) is None
    assert src.masks == [first_pass(G.GFP_ATOMIC)] and k.sleep_request is None


def test_without_the_sleep_handshake_the_sleep_ends_at_once_and_one_full_pass_runs(kernel):
    k, src, pool = setup(kernel, 1)
    src.failing = True
    k.mempool_alloc(pool, G.GFP_NOIO)
    src.masks.clear()
    assert k.mempool_alloc(pool, G.GFP_NOIO) is None
    assert src.masks == [first_pass(G.GFP_NOIO), after_sleep(G.GFP_NOIO)]
    assert k.sleep_request is None


def test_only_a_mempool_free_into_the_reserve_wakes_the_pools_sleepers(kernel):
    k, src, pool = setup(kernel, 2)
    src.failing = True
    a = k.mempool_alloc(pool, G.GFP_KERNEL)
    b = k.mempool_alloc(pool, G.GFP_KERNEL)
    src.failing = False
    c = k.mempool_alloc(pool, G.GFP_KERNEL)                         # from the allocator
    woken = []
    k.mempool_add_waiter(pool, lambda: woken.append(pool.curr_nr))
    k.kfree(k.kmalloc(64, G.GFP_KERNEL))                            # other frees: no wake_up(&pool->wait)
    assert woken == []
    k.mempool_free(a, pool)                                         # refills the reserve: wakes
    assert woken == [1]
    k.mempool_free(b, pool)                                         # the waiter was woken once
    assert woken == [1]
    w = woken.append
    k.mempool_add_waiter(pool, w)
    k.mempool_free(c, pool)                                         # reserve full: to the allocator
    assert woken == [1]
    k.mempool_remove_waiter(pool, w)
    assert pool.wait == []


def test_mempool_create_with_min_nr_0_succeeds(kernel):
    k = kernel(mem=16 << 20)
    src = Source(k)
    size32 = k.kmalloc_cache_for(32, 0)
    before = len(size32.live)
    pool = k.mempool_create(0, src.alloc, src.free, 64)
    assert pool is not None and pool.min_nr == 0 and pool.curr_nr == 0
    assert src.masks == []                                           # nothing to pre-allocate
    # kmalloc(0) in 2.6.18 is served by the first general cache (size-32), as is mempool_t
    # (40 bytes: size-64); the element array is that size-32 object
    assert len(size32.live) == before + 1
    element = k.mempool_alloc(pool, G.GFP_KERNEL)
    assert element is not None
    k.mempool_free(element, pool)                                    # curr_nr == min_nr: to the allocator
    assert pool.curr_nr == 0
    assert k.mempool_destroy(pool)
    assert len(size32.live) == before
    assert not any("kernel BUG" in r.text for r in k.log.records)


def test_mempool_create_with_a_negative_min_nr_fails_and_keeps_nothing(kernel):
    k = kernel(mem=16 << 20)
    src = Source(k)
    live = sum(len(c.live) for c in k.cache_chain)
    # min_nr * sizeof(void *) as size_t: 0xfffffffc bytes, which kmalloc cannot give
    assert k.mempool_create(-1, src.alloc, src.free, 64) is None
    assert sum(len(c.live) for c in k.cache_chain) == live
    assert src.masks == []
