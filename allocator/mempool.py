"""Memory pools after 2.6.18 mm/mempool.c: a reserve of preallocated elements
that an allocation falls back on when the allocator itself fails.

mempool_alloc (2.6.18) first asks the allocator without __GFP_WAIT/__GFP_IO (so
it never reclaims while the reserve could serve), then takes an element from the
reserve; with both gone and __GFP_WAIT it sleeps first (io_schedule_timeout(5*HZ):
until a mempool_free refills the reserve, or 5 s) and then repeats with the
caller's full mask (gfp_temp = gfp_mask): allocator (now reclaiming), reserve,
sleep, for ever. mempool_free refills the reserve before anything goes back to
the allocator.

The allocator never blocks (see sched.py). A mempool_alloc that has to sleep,
called while the caller can sleep (`sleep_ok`), records `(gfp, order, pool)` in
`sleep_request`, marks the task as past its first sleep in this pool
(`pool.retrying`), and returns None. The caller then waits on the pool
(`mempool_add_waiter`: called by the mempool_free that refills the reserve) for
at most MEMPOOL_SLEEP_TIMEOUT seconds, without any overall deadline, and calls
mempool_alloc again, which then starts with the full mask. Without `sleep_ok` the
sleep cannot happen: it ends at once, as a timeout with nothing freed, the
full-mask pass runs once, and None is returned if it fails too
(docs/deviations.md).

The part is `Mempools`, given the slab and page allocators its element
allocators use.
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MethodType
from typing import Any

from . import page_alloc as PA
from . import slab as SL
from .gfp import (
    __GFP_IO,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_WAIT,
    GFP_KERNEL,
)
from .kmalloc_sizes import KMALLOC_MAX_SIZE
from .printk import KERN_ALERT, KERN_EMERG, KERN_ERR, KernelLog
from .sched import Sched

# alloc_fn(gfp_mask, pool_data) -> element or None; free_fn(element, pool_data)
AllocFn = Callable[[int, Any], Any]
FreeFn = Callable[[Any, Any], None]

# sizeof(mempool_t) on i386 2.6.18: lock, min_nr, curr_nr, elements, pool_data,
# alloc, free (4 bytes each) and a wait_queue_head_t (12).
SIZEOF_MEMPOOL = 40
SIZEOF_POINTER = 4
# mempool_destroy's BUG line in mm/mempool.c (2.6.12..2.6.18 numbering).
MEMPOOL_DESTROY_BUG_LINE = 187
# mempool_alloc: io_schedule_timeout(5*HZ), in seconds
MEMPOOL_SLEEP_TIMEOUT = 5.0
# size_t on i386: min_nr * sizeof(void *) wraps for a negative min_nr
SIZE_T_MASK = 0xFFFFFFFF


@dataclass(eq=False)
class Mempool:
    """mempool_t. `elements` is the reserve (the list's end is the top). The
    pool and its element array are kmalloc'd as in 2.6 (`addr`, `elements_addr`)
    so they cost what they cost; the reserve's contents live in the list."""
    min_nr: int
    alloc: AllocFn
    free: FreeFn
    pool_data: Any
    addr: int = 0
    elements_addr: int = 0
    elements: list[Any] = field(default_factory=list)
    destroyed: bool = False
    # pool->wait: called (and dropped) by the mempool_free that refills the reserve
    wait: list[Callable[[], None]] = field(default_factory=list)
    # pids of the tasks whose mempool_alloc has slept once: they go on with gfp_temp = gfp_mask
    retrying: set[int] = field(default_factory=set)
    # statistics: how often the reserve served, was refilled, made a caller sleep
    from_allocator: int = 0
    from_reserve: int = 0
    refills: int = 0
    sleeps: int = 0

    @property
    def curr_nr(self) -> int:
        return len(self.elements)

    def __repr__(self) -> str:
        return f"<Mempool {self.curr_nr}/{self.min_nr}>"


class Mempools:
    """mm/mempool.c's state: the allocators elements come from, the oops count."""

    def __init__(self, slab: SL.SlabAllocator, page_alloc: PA.PageAllocator, log: KernelLog,
                 sched: Sched):
        self.slab = slab
        self.page_alloc = page_alloc
        self.log = log
        self.sched = sched
        self.oops_count = 0
        # the pools not destroyed: their alloc/free are rebound by _pure.select
        self.pools: list[Mempool] = []


# -- the reserve's invariants, guarded in one place --------------------------


def add_element(mp: Mempools, pool: Mempool, element: Any) -> None:
    if pool.curr_nr >= pool.min_nr:
        mempool_bug(mp, "add_element", f"curr_nr {pool.curr_nr} >= min_nr {pool.min_nr}")
        return
    pool.elements.append(element)


def remove_element(mp: Mempools, pool: Mempool) -> Any:
    if pool.curr_nr <= 0:
        mempool_bug(mp, "remove_element", "curr_nr is 0")
        return None
    return pool.elements.pop()


def mempool_bug(mp: Mempools, where: str, why: str) -> None:
    """A BUG() in mm/mempool.c: logged as the oops 2.6 prints; the daemon
    (the rest of the kernel) goes on."""
    mp.oops_count += 1
    mp.log.printk(KERN_ALERT, f"kernel BUG at mm/mempool.c:{MEMPOOL_DESTROY_BUG_LINE}!"
                  if where == "mempool_destroy" else "kernel BUG at mm/mempool.c!")
    mp.log.printk(KERN_EMERG, f"invalid opcode: 0000 [#{mp.oops_count}]")
    mp.log.printk(KERN_EMERG, f"EIP is at {where} ({why})")
    current = mp.sched.current
    mp.log.printk(KERN_EMERG, f"Process {current.comm} (pid: {current.pid})")


def free_pool(mp: Mempools, pool: Mempool) -> None:
    while pool.curr_nr:
        pool.free(remove_element(mp, pool), pool.pool_data)
    SL.kfree(mp.slab, pool.elements_addr)
    SL.kfree(mp.slab, pool.addr)
    pool.destroyed = True


# -- create / resize / destroy ------------------------------------------------


def mempool_create(mp: Mempools, min_nr: int, alloc_fn: AllocFn, free_fn: FreeFn,
                   pool_data: Any = None) -> Mempool | None:
    """mm/mempool.c mempool_create_node (2.6.18): kmalloc the pool and its
    element array (min_nr pointers: kmalloc(0) for an empty reserve is a
    size-32 object, so mempool_create(0, ...) succeeds; a negative min_nr asks
    for a wrapped, impossible size and fails), then fill the reserve with
    min_nr elements from alloc_fn(GFP_KERNEL, pool_data). Returns None (nothing
    kept) if the pool or any element cannot be allocated. May sleep."""
    addr = SL.kzalloc(mp.slab, SIZEOF_MEMPOOL, GFP_KERNEL)
    if addr is None:
        return None
    elements_addr = SL.kmalloc(mp.slab, (min_nr * SIZEOF_POINTER) & SIZE_T_MASK, GFP_KERNEL)
    if elements_addr is None:
        SL.kfree(mp.slab, addr)
        return None
    pool = Mempool(min_nr, alloc_fn, free_fn, pool_data, addr, elements_addr)
    while pool.curr_nr < pool.min_nr:
        element = pool.alloc(GFP_KERNEL, pool.pool_data)
        if element is None:
            free_pool(mp, pool)
            return None
        add_element(mp, pool, element)
    mp.pools.append(pool)
    return pool


def mempool_resize(mp: Mempools, pool: Mempool, new_min_nr: int, gfp_mask: int) -> int:
    """Change the reserve's size. Shrinking frees the surplus at once;
    growing reallocates the element array and tops the reserve up as far
    as alloc_fn(gfp_mask) allows (a short top-up is not an error, as in
    2.6: mempool_free fills the rest). Returns 0 or -ENOMEM."""
    if new_min_nr <= 0:
        mempool_bug(mp, "mempool_resize", f"new_min_nr {new_min_nr}")
        return -errno.EINVAL
    if new_min_nr <= pool.min_nr:
        while new_min_nr < pool.curr_nr:
            pool.free(remove_element(mp, pool), pool.pool_data)
        pool.min_nr = new_min_nr
        return 0
    new_elements = SL.kmalloc(mp.slab, new_min_nr * SIZEOF_POINTER, gfp_mask)
    if new_elements is None:
        return -errno.ENOMEM
    SL.kfree(mp.slab, pool.elements_addr)
    pool.elements_addr = new_elements
    pool.min_nr = new_min_nr
    while pool.curr_nr < pool.min_nr:
        element = pool.alloc(gfp_mask, pool.pool_data)
        if element is None:
            break
        add_element(mp, pool, element)
    return 0


def mempool_destroy(mp: Mempools, pool: Mempool | None) -> bool:
    """Free the reserve and the pool. With elements still handed out,
    2.6 hits BUG() before freeing anything: we log that oops, free nothing,
    keep the pool usable (its elements may still come back) and return False."""
    if pool is None:
        return True
    if pool.destroyed:
        mempool_bug(mp, "mempool_destroy", "pool already destroyed")
        return False
    if pool.curr_nr != pool.min_nr:
        mempool_bug(mp, "mempool_destroy", f"BUG_ON(pool->curr_nr != pool->min_nr):"
                                           f" {pool.min_nr - pool.curr_nr} of {pool.min_nr}"
                                           f" elements still out")
        return False
    free_pool(mp, pool)
    mp.pools.remove(pool)
    return True


# -- alloc / free ---------------------------------------------------------------


def mempool_alloc(mp: Mempools, pool: Mempool, gfp_mask: int) -> Any:
    """mm/mempool.c mempool_alloc (2.6.18). Return an element, or None.

    gfp_temp is the mask without __GFP_WAIT/__GFP_IO until the task has slept
    once in this pool, the full mask after: allocator, then reserve; with
    neither and no __GFP_WAIT, None. Otherwise the task sleeps (see the module
    doc: the sleep request with sleep_ok, else one immediate full-mask pass)."""
    if pool.destroyed:
        mempool_bug(mp, "mempool_alloc", "pool was destroyed")
        return None
    orig_mask = gfp_mask
    gfp_mask |= __GFP_NOMEMALLOC   # don't allocate emergency reserves
    gfp_mask |= __GFP_NORETRY      # don't loop in __alloc_pages
    gfp_mask |= __GFP_NOWARN       # failures are OK
    pid = mp.sched.current.pid
    slept = pid in pool.retrying
    gfp_temp = gfp_mask if slept else gfp_mask & ~(__GFP_WAIT | __GFP_IO)
    while True:  # repeat_alloc:
        element = pool.alloc(gfp_temp, pool.pool_data)
        if element is not None:
            pool.retrying.discard(pid)
            pool.from_allocator += 1
            return element
        if pool.curr_nr:
            pool.retrying.discard(pid)
            pool.from_reserve += 1
            return remove_element(mp, pool)
        # We must not sleep in the GFP_ATOMIC case
        if not gfp_mask & __GFP_WAIT:
            pool.retrying.discard(pid)
            return None
        # Now start performing page reclaim: gfp_temp = gfp_mask, and
        # io_schedule_timeout(5*HZ) while the reserve is empty
        if mp.sched.sleep_ok:
            pool.retrying.add(pid)
            pool.sleeps += 1
            mp.sched.sleep_request = (orig_mask, mempool_element_order(mp, pool), pool)
            return None
        if slept:
            pool.retrying.discard(pid)
            return None
        slept = True
        gfp_temp = gfp_mask


def mempool_add_waiter(mp: Mempools, pool: Mempool, wake: Callable[[], None]) -> None:
    """prepare_to_wait(&pool->wait): `wake` is called once, by the next
    mempool_free that puts an element into the reserve (wake_up(&pool->wait))."""
    pool.wait.append(wake)


def mempool_remove_waiter(mp: Mempools, pool: Mempool, wake: Callable[[], None]) -> None:
    """finish_wait(&pool->wait) after a timeout."""
    if wake in pool.wait:
        pool.wait.remove(wake)


def mempool_free(mp: Mempools, element: Any, pool: Mempool) -> None:
    """mm/mempool.c mempool_free (2.6.18): into the reserve while it is below
    min_nr (waking the pool's sleepers), else to the allocator through
    free_fn. mempool_free(None) does nothing (2.6.18 would store the NULL)."""
    if element is None:
        return
    if pool.destroyed:
        # a use-after-free of the pool: report it, but the element itself is
        # sound and its allocator is known, so it does not leak
        mempool_bug(mp, "mempool_free", "pool was destroyed")
        pool.free(element, pool.pool_data)
        return
    if pool.curr_nr < pool.min_nr:
        add_element(mp, pool, element)
        pool.refills += 1
        waiters, pool.wait = pool.wait, []
        for wake in waiters:   # wake_up(&pool->wait)
            wake()
        free_waiters = mp.sched.free_waiters
        if free_waiters is not None:
            free_waiters()
        return
    pool.free(element, pool.pool_data)


def mempool_element_order(mp: Mempools, pool: Mempool) -> int:
    """The page order an element costs, for a failure report."""
    alloc = getattr(pool.alloc, "__func__", pool.alloc)
    if alloc is mempool_alloc_pages:
        order: int = pool.pool_data
        return order
    if alloc is mempool_alloc_slab:
        cachep: SL.KmemCache = pool.pool_data
        return cachep.gfporder
    if alloc is mempool_kmalloc:
        return max(0, (int(pool.pool_data) - 1).bit_length() - mp.page_alloc.page_shift)
    return 0


# -- the common element allocators (pool_data as in 2.6) ----------------------


def mempool_alloc_slab(mp: Mempools, gfp_mask: int, pool_data: SL.KmemCache) -> int | None:
    """alloc_fn for a pool of objects of the kmem_cache pool_data."""
    return SL.kmem_cache_alloc(mp.slab, pool_data, gfp_mask)


def mempool_free_slab(mp: Mempools, element: int, pool_data: SL.KmemCache) -> None:
    SL.kmem_cache_free(mp.slab, pool_data, element)


def mempool_kmalloc(mp: Mempools, gfp_mask: int, pool_data: int) -> int | None:
    """alloc_fn for a pool of kmalloc(pool_data) buffers."""
    return SL.kmalloc(mp.slab, pool_data, gfp_mask)


def mempool_kfree(mp: Mempools, element: int, pool_data: int) -> None:
    SL.kfree(mp.slab, element)


def mempool_alloc_pages(mp: Mempools, gfp_mask: int, pool_data: int) -> int | None:
    """alloc_fn for a pool of 2**pool_data pages (elements are pfns)."""
    return PA.alloc_pages(mp.page_alloc, gfp_mask, pool_data)


def mempool_free_pages(mp: Mempools, element: int, pool_data: int) -> None:
    PA.__free_pages(mp.page_alloc, element, pool_data)


def mempool_create_slab_pool(mp: Mempools, min_nr: int, cachep: SL.KmemCache) -> Mempool | None:
    return mempool_create(mp, min_nr, MethodType(mempool_alloc_slab, mp),
                          MethodType(mempool_free_slab, mp), cachep)


def mempool_create_kmalloc_pool(mp: Mempools, min_nr: int, size: int) -> Mempool | None:
    if size > KMALLOC_MAX_SIZE:
        mp.log.printk(KERN_ERR, f"mempool_create_kmalloc_pool: {size} bytes is more than kmalloc gives")
        return None
    return mempool_create(mp, min_nr, MethodType(mempool_kmalloc, mp), MethodType(mempool_kfree, mp), size)


def mempool_create_page_pool(mp: Mempools, min_nr: int, order: int) -> Mempool | None:
    return mempool_create(mp, min_nr, MethodType(mempool_alloc_pages, mp),
                          MethodType(mempool_free_pages, mp), order)
