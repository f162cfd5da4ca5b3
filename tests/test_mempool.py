"""Mempools as 2.6.18 mm/mempool.c: the reserve, its refill order, resize,
destroy, and a sleeping mempool_alloc woken by mempool_free."""
from __future__ import annotations

import types

import pytest
import trio
import trio.testing

from allocator import Kernel
from allocator import gfp as G
from scullcfs.families import ScullmDriver
from scullcfs.sleep import MemoryWaitQueue, attempt_write, write_sleeping


@pytest.fixture
def boot(kernel):
    """boot(mem) -> a 2-CPU Kernel without background caches (the shared `kernel` fixture)."""
    def boot(mem: int = 16 << 20) -> Kernel:
        return kernel(mem=mem, cpus=2, background=0)
    return boot


class Allocator:
    """An alloc_fn/free_fn pair over kmalloc(64) that can be made to fail,
    recording what it was asked."""

    def __init__(self, k: Kernel):
        self.k = k
        self.failing = False
        self.masks: list[int] = []
        self.freed: list[int] = []

    def alloc(self, gfp, pool_data):
        self.masks.append(gfp)
        return None if self.failing else self.k.kmalloc(pool_data, gfp & ~G.F.HIGHMEM)

    def free(self, element, pool_data):
        self.freed.append(element)
        self.k.kfree(element)


def make_pool(k: Kernel, min_nr: int = 4):
    a = Allocator(k)
    pool = k.mempool_create(min_nr, a.alloc, a.free, 64)
    assert pool is not None
    a.masks.clear()
    return pool, a


def live_small(k: Kernel) -> int:
    """Live objects of size-32 and size-64: the elements (64 bytes), mempool_t
    (40 bytes) and the element array (4 bytes a pointer) of these tests' pools."""
    return len(k.kmalloc_cache_for(32, 0).live) + len(k.kmalloc_cache_for(64, 0).live)


def test_mempool_create_fills_the_reserve_with_min_nr_elements(boot):
    k = boot()
    before = live_small(k)
    pool, a = make_pool(k, 5)
    assert pool.curr_nr == pool.min_nr == 5
    # five elements, the element array and mempool_t itself
    assert live_small(k) == before + 5 + 2


def test_mempool_create_gives_everything_back_when_the_reserve_cannot_be_filled(boot):
    k = boot()
    a = Allocator(k)
    calls = []

    def alloc_three(gfp, data):
        calls.append(gfp)
        return a.alloc(gfp, data) if len(calls) <= 3 else None
    before = live_small(k)
    assert k.mempool_create(8, alloc_three, a.free, 64) is None
    assert len(a.freed) == 3
    assert calls[0] == G.GFP_KERNEL  # the pre-fill may sleep
    assert live_small(k) == before


def test_mempool_alloc_uses_the_allocator_while_it_can_and_keeps_the_reserve(boot):
    k = boot()
    pool, a = make_pool(k)
    elements = [k.mempool_alloc(pool, G.GFP_KERNEL) for _ in range(10)]
    assert None not in elements
    assert pool.curr_nr == 4
    assert pool.from_allocator == 10 and pool.from_reserve == 0


def test_mempool_alloc_first_try_neither_sleeps_nor_does_io_nor_warns(boot):
    k = boot()
    pool, a = make_pool(k)
    k.mempool_alloc(pool, G.GFP_KERNEL)
    first = a.masks[0]
    assert not first & (G.__GFP_WAIT | G.__GFP_IO)
    assert first & G.__GFP_FS
    assert first & (G.__GFP_NOMEMALLOC | G.__GFP_NORETRY | G.__GFP_NOWARN) == \
        G.__GFP_NOMEMALLOC | G.__GFP_NORETRY | G.__GFP_NOWARN


def test_mempool_reserve_is_used_only_when_the_allocator_fails(boot):
    k = boot()
    pool, a = make_pool(k, 3)
    reserve = list(pool.elements)
    a.failing = True
    got = [k.mempool_alloc(pool, G.GFP_ATOMIC) for _ in range(3)]
    assert sorted(got) == sorted(reserve)  # the reserve, and only after the allocator said no
    assert pool.curr_nr == 0 and pool.from_reserve == 3
    assert len(a.masks) == 3
    a.failing = False
    assert k.mempool_alloc(pool, G.GFP_ATOMIC) not in reserve + [None]


def test_mempool_alloc_without_wait_returns_null_when_the_reserve_is_empty(boot):
    k = boot()
    pool, a = make_pool(k, 1)
    a.failing = True
    assert k.mempool_alloc(pool, G.GFP_ATOMIC) is not None
    k.sleep_ok = True  # even where sleeping is allowed, GFP_ATOMIC must not sleep
    assert k.mempool_alloc(pool, G.GFP_ATOMIC) is None
    assert k.sleep_request is None
    assert len(a.masks) == 2  # no reclaiming retry without __GFP_WAIT


def test_mempool_alloc_that_may_sleep_asks_to_sleep_first_then_retries_with_the_full_mask(boot):
    k = boot()
    pool, a = make_pool(k, 1)
    a.failing = True
    k.mempool_alloc(pool, G.GFP_KERNEL)  # the reserve's one element
    a.masks.clear()
    k.sleep_ok = True
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None
    assert len(a.masks) == 1 and a.masks[0] & G.__GFP_WAIT == 0  # 2.6.18: sleep before reclaiming
    gfp, order, sleeping_on = k.sleep_request
    assert gfp == G.GFP_KERNEL and order == 0 and sleeping_on is pool
    assert pool.sleeps == 1


def test_mempool_alloc_that_may_not_sleep_now_fails_without_a_sleep_request(boot):
    k = boot()
    pool, a = make_pool(k, 1)
    a.failing = True
    k.mempool_alloc(pool, G.GFP_KERNEL)
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None  # sleep_ok is False
    assert k.sleep_request is None


def test_mempool_free_refills_the_reserve_before_the_allocator(boot):
    k = boot()
    pool, a = make_pool(k, 3)
    a.failing = True
    taken = [k.mempool_alloc(pool, G.GFP_ATOMIC) for _ in range(3)]
    a.failing = False
    extra = k.mempool_alloc(pool, G.GFP_ATOMIC)
    assert pool.curr_nr == 0
    for i, element in enumerate(taken):
        k.mempool_free(element, pool)
        assert pool.curr_nr == i + 1 and a.freed == []
    k.mempool_free(extra, pool)  # the reserve is full: back to the allocator
    assert pool.curr_nr == 3 and a.freed == [extra]
    assert pool.refills == 3
    k.mempool_free(None, pool)  # freeing NULL is allowed
    assert pool.curr_nr == 3


def test_mempool_free_into_the_reserve_wakes_a_waiter(boot):
    k = boot()
    pool, a = make_pool(k, 2)
    a.failing = True
    element = k.mempool_alloc(pool, G.GFP_ATOMIC)
    woken = []
    k.free_waiters = lambda: woken.append(pool.curr_nr)
    k.mempool_free(element, pool)
    assert woken == [2]


def test_mempool_resize_down_frees_the_surplus_at_once(boot):
    k = boot()
    pool, a = make_pool(k, 6)
    assert k.mempool_resize(pool, 2, G.GFP_KERNEL) == 0
    assert pool.min_nr == 2 and pool.curr_nr == 2 and len(a.freed) == 4


def test_mempool_resize_up_tops_the_reserve_up(boot):
    k = boot()
    pool, a = make_pool(k, 2)
    before = live_small(k)
    assert k.mempool_resize(pool, 7, G.GFP_KERNEL) == 0
    assert pool.min_nr == 7 and pool.curr_nr == 7
    assert live_small(k) == before + 5  # five more elements; a new array replaced the old


def test_mempool_resize_up_with_memory_short_keeps_a_short_reserve_that_frees_refill(boot):
    k = boot()
    pool, a = make_pool(k, 2)
    a.failing = True
    assert k.mempool_resize(pool, 5, G.GFP_KERNEL) == 0  # 2.6: not an error
    assert pool.min_nr == 5 and pool.curr_nr == 2
    a.failing = False
    extra = [k.mempool_alloc(pool, G.GFP_KERNEL) for _ in range(3)]
    for element in extra:
        k.mempool_free(element, pool)
    assert pool.curr_nr == 5 and a.freed == []


def test_mempool_destroy_frees_the_reserve_and_the_pool(boot):
    k = boot()
    before = live_small(k)
    pool, a = make_pool(k, 4)
    assert k.mempool_destroy(pool)
    assert len(a.freed) == 4
    assert live_small(k) == before


def test_mempool_destroy_with_elements_out_is_a_logged_oops_not_a_crash(boot):
    k = boot()
    before = live_small(k)
    pool, a = make_pool(k, 4)
    a.failing = True
    out = [k.mempool_alloc(pool, G.GFP_ATOMIC) for _ in range(2)]
    assert k.mempool_destroy(pool) is False
    log = "\n".join(r.text for r in k.log.records)
    assert "kernel BUG at mm/mempool.c" in log and "invalid opcode" in log
    assert "curr_nr != pool->min_nr" in log
    assert a.freed == []  # BUG() stops before free_pool: nothing freed
    # the kernel goes on: the elements come home and the pool can be destroyed
    for element in out:
        k.mempool_free(element, pool)
    assert k.mempool_destroy(pool)
    assert sorted(a.freed) == sorted(set(a.freed))  # nothing freed twice
    assert live_small(k) == before


def test_mempool_use_after_destroy_is_a_logged_bug_and_leaks_nothing(boot):
    k = boot()
    pool, a = make_pool(k, 2)
    element = k.mempool_alloc(pool, G.GFP_KERNEL)  # from the allocator: destroy cannot see it
    assert k.mempool_destroy(pool)
    k.mempool_free(element, pool)
    assert element in a.freed
    assert k.mempool_alloc(pool, G.GFP_KERNEL) is None
    assert k.mempool_destroy(pool) is False
    assert sum("kernel BUG at mm/mempool.c" in r.text for r in k.log.records) == 3


def test_mempool_slab_kmalloc_and_page_pools_hand_out_their_kind_of_element(boot):
    k = boot()
    cache = k.kmem_cache_create("pooltest", 300, 0, 0)
    slab_pool = k.mempool_create_slab_pool(4, cache)
    kmalloc_pool = k.mempool_create_kmalloc_pool(4, 1000)
    page_pool = k.mempool_create_page_pool(2, 1)
    obj = k.mempool_alloc(slab_pool, G.GFP_KERNEL)
    buf = k.mempool_alloc(kmalloc_pool, G.GFP_KERNEL)
    pfn = k.mempool_alloc(page_pool, G.GFP_KERNEL)
    assert obj in cache.live
    assert k.ksize(buf) == 1024
    assert k.alloc_order[pfn] == 1
    for element, pool in ((obj, slab_pool), (buf, kmalloc_pool), (pfn, page_pool)):
        k.mempool_free(element, pool)
        assert k.mempool_destroy(pool)
    assert not cache.live and pfn not in k.alloc_order
    assert k.kmem_cache_destroy(cache) == 0


def test_sleeping_mempool_alloc_wakes_on_mempool_free(boot):
    """A scullm write whose quantum can come neither from the slab nor from the
    reserve sleeps (sleep.py's wait queue) until another device's trim gives
    elements back to the pool, then finishes from the refilled reserve."""
    k = boot()
    drv = ScullmDriver(k, {"scullm_min_nr": 2})
    writer, other = drv.devices[0], drv.devices[1]
    writer.write(0, b"w")                 # its item and pointer array exist
    other.write(0, b"o" * 8000)           # two quanta, from the slab
    drv.pool.alloc = lambda gfp, data: None  # from now on the slab cannot grow
    writer.write(4000, b"r" * 8000)        # the two reserve elements
    assert drv.pool.curr_nr == 0
    data = b"s" * 4000
    events = []

    async def main():
        queue = MemoryWaitQueue(k)
        settings = types.SimpleNamespace(alloc_wait_ms=60_000)
        assert attempt_write(k, writer, 12000, data) == 0
        assert k.sleep_request[2] is drv.pool

        async def trimmer():
            assert queue.sleepers == 1  # the writer is asleep
            events.append("trim")
            other.trim()  # two mempool_free calls refill the reserve

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trimmer)
            done = await write_sleeping(k, queue, settings, writer, 12000, data, 0, pid=42)
            events.append(f"wrote {done}")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert events == ["trim", "wrote 4000"]
    assert bytes(writer.read(12000, 4000)) == data
    assert drv.pool.curr_nr == 1
