"""Memory pools as Linux 6.18 has them (mm/mempool.c of 6.12, the source read;
include/linux/mempool.h).

What changed since 2.6.18 (allocator/mempool.py):
  * mempool_alloc forces __GFP_NOMEMALLOC|__GFP_NORETRY|__GFP_NOWARN, asks the
    allocator without __GFP_DIRECT_RECLAIM|__GFP_IO, then takes the reserve,
    then asks once more at once with the full mask, and only then sleeps
    (io_schedule_timeout(5*HZ), uninterruptibly on pool->wait) and repeats with
    the full mask. Without __GFP_DIRECT_RECLAIM it returns NULL there.
  * mempool_resize(pool, new_min_nr) has no gfp: it grows with GFP_KERNEL.
  * mempool_destroy has no BUG_ON for elements still out: it frees the reserve
    and the pool (mempool_exit + kfree); mempool_destroy(NULL) is a no-op.
  * the embedded form mempool_init/mempool_exit, mempool_alloc_preallocated,
    kvmalloc pools (mempool_kvmalloc: `Mempools.vmalloc` for the fallback).
  * mempool_t is 72 bytes on x86_64 (kzalloc: kmalloc-96), the element array
    min_nr * 8 bytes (kmalloc_array_node: an overflowing size fails).
  * a min_nr == 0 pool keeps one freed element for a sleeper (ZERO_MIN_FIX).

Sleeping uses the handshake of allocator/mempool.py and allocator/sched.py: a
mempool_alloc that would sleep while the caller can (`sleep_ok`) records
`(gfp, order, pool)` in `sleep_request`, marks the task as having slept in the
pool (`pool.retrying`: its next call starts with the full mask, as the kernel's
`goto repeat_alloc` after the sleep does) and returns None; the FUSE side waits
on the pool (mempool_add_waiter) for at most MEMPOOL_SLEEP_TIMEOUT and calls
again. Without `sleep_ok` the sleep would only time out with nothing freed and
repeat what just failed, so None is returned there (docs/deviations.md).

VM_WARN_ON_ONCE(gfp_mask & __GFP_ZERO) is compiled only with CONFIG_DEBUG_VM
(off on the live host): `Mempools.debug_vm` turns it on.

The part is the same `Mempool` dataclass as 2.6.18's (scullcfs/sleep.py waits
on it); `Mempools` is given 6.18's SLUB and page allocator.
"""
from __future__ import annotations

from collections.abc import Callable
from types import MethodType
from typing import Any

from ..mempool import MEMPOOL_SLEEP_TIMEOUT, AllocFn, FreeFn, Mempool
from ..printk import KERN_CRIT, KERN_WARNING, KernelLog
from ..sched import Sched
from . import page_alloc as PA
from . import slub as SL
from . import vmalloc as VM
from .gfp import (
    __GFP_DIRECT_RECLAIM,
    __GFP_IO,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_ZERO,
    GFP_KERNEL,
)

__all__ = ["MEMPOOL_SLEEP_TIMEOUT", "Mempool", "Mempools"]

# sizeof(mempool_t) on x86_64 without lockdep: spinlock_t 4, min_nr 4, curr_nr 4
# (+4 padding), elements, pool_data, alloc, free 8 each, wait_queue_head_t 24.
SIZEOF_MEMPOOL = 72
SIZEOF_POINTER = 8
SIZE_MAX = (1 << 64) - 1
NUMA_NO_NODE = -1
# printk(KERN_DEFAULT): default_message_loglevel, CONFIG_MESSAGE_LOGLEVEL_DEFAULT 4
KERN_DEFAULT = KERN_WARNING
# mm/mempool.c (6.12.117) lines of the BUG_ONs and the VM_WARN_ON_ONCE
LINE_ADD_ELEMENT_BUG = 159
LINE_REMOVE_ELEMENT_BUG = 169
LINE_RESIZE_BUG = 334
LINE_ALLOC_WARN = 411
# "mempool: fix wake-up edge case bug for zero-minimum pools" (2025): mempool_free
# puts an element into an empty min_nr == 0 pool for a sleeper, the element array
# has max(1, min_nr) slots [reference §7.1: P, U]
ZERO_MIN_FIX = True


class Mempools:
    """mm/mempool.c's state: the allocators elements come from, the oops count,
    the WARN_ON_ONCE flag."""

    def __init__(self, slab: SL.SlabAllocator, page_alloc: PA.PageAllocator, log: KernelLog,
                 sched: Sched, debug_vm: bool = False, vmalloc: VM.Vmalloc | None = None):
        self.slab = slab
        # for mempool_kvmalloc's vmalloc fallback (a Kernel sets it once built)
        self.vmalloc = vmalloc
        self.page_alloc = page_alloc
        self.log = log
        self.sched = sched
        self.debug_vm = debug_vm
        self.oops_count = 0
        self.warned_zero = False
        # the pools initialised and not exited: their alloc/free are rebound by _pure.select
        self.pools: list[Mempool] = []


# -- BUG and WARN as 6.x prints them ----------------------------------------


def _oops_header(mp: Mempools, function: str) -> None:
    current = mp.sched.current
    mp.log.printk(KERN_DEFAULT, f"CPU: {current.cpu} UID: {current.uid or 0} PID: {current.pid}"
                                f" Comm: {current.comm[:15]} Not tainted 6.18-scullcfs #1")
    mp.log.printk(KERN_DEFAULT, f"RIP: 0010:{function}+0x0/0x0")


def mempool_bug(mp: Mempools, line: int, function: str) -> None:
    """BUG()/BUG_ON() in mm/mempool.c: lib/bug.c report_bug's "cut here" and
    `kernel BUG at file:line!`, then arch/x86 die's Oops line. Logged; the
    simulated kernel goes on (the caller returns an error)."""
    mp.oops_count += 1
    mp.log.printk(KERN_DEFAULT, "------------[ cut here ]------------")
    mp.log.printk(KERN_CRIT, f"kernel BUG at mm/mempool.c:{line}!")
    mp.log.printk(KERN_DEFAULT, f"Oops: invalid opcode: 0000 [#{mp.oops_count}] PREEMPT SMP NOPTI")
    _oops_header(mp, function)


def mempool_warn(mp: Mempools, line: int, function: str) -> None:
    """WARN_ON_ONCE: kernel/panic.c __warn's `WARNING: CPU: %d PID: %d at %s:%d %pS`."""
    current = mp.sched.current
    mp.log.printk(KERN_DEFAULT, "------------[ cut here ]------------")
    mp.log.printk(KERN_WARNING, f"WARNING: CPU: {current.cpu} PID: {current.pid} at"
                                f" mm/mempool.c:{line} {function}+0x0/0x0")
    _oops_header(mp, function)


# -- the reserve --------------------------------------------------------------


def add_element(mp: Mempools, pool: Mempool, element: Any) -> None:
    """mm/mempool.c add_element: BUG_ON(curr_nr >= min_nr)."""
    if pool.curr_nr >= pool.min_nr:
        mempool_bug(mp, LINE_ADD_ELEMENT_BUG, "add_element")
        return
    pool.elements.append(element)


def remove_element(mp: Mempools, pool: Mempool) -> Any:
    """mm/mempool.c remove_element: the last element in (LIFO)."""
    if pool.curr_nr <= 0:
        mempool_bug(mp, LINE_REMOVE_ELEMENT_BUG, "remove_element")
        return None
    return pool.elements.pop()


def kmalloc_array_node(mp: Mempools, n: int, size: int, gfp: int) -> int | None:
    """include/linux/slab.h kmalloc_array_node: NULL if n * size overflows size_t
    (a negative int n is a huge size_t), else kmalloc(n * size)."""
    n &= SIZE_MAX
    if size and n > SIZE_MAX // size:
        return None
    return SL.kmalloc(mp.slab, n * size, gfp)


# -- init / create / exit / destroy / resize ----------------------------------


def mempool_exit(mp: Mempools, pool: Mempool) -> None:
    """mm/mempool.c mempool_exit: free the reserve and the element array."""
    while pool.curr_nr:
        element = remove_element(mp, pool)
        pool.free(element, pool.pool_data)
    if pool.elements_addr:
        SL.kfree(mp.slab, pool.elements_addr)
    pool.elements_addr = 0
    if pool in mp.pools:
        mp.pools.remove(pool)


def mempool_init_node(mp: Mempools, pool: Mempool, min_nr: int, alloc_fn: AllocFn, free_fn: FreeFn,
                      pool_data: Any, gfp_mask: int, node_id: int = NUMA_NO_NODE) -> int:
    """mm/mempool.c mempool_init_node: the element array (kmalloc_array_node),
    then min_nr elements from alloc_fn(gfp_mask); any failure: mempool_exit,
    -ENOMEM. Returns 0."""
    pool.min_nr = min_nr
    pool.pool_data = pool_data
    pool.alloc = alloc_fn
    pool.free = free_fn
    pool.elements = []
    pool.wait = []
    slots = max(1, min_nr) if ZERO_MIN_FIX else min_nr
    elements_addr = kmalloc_array_node(mp, slots, SIZEOF_POINTER, gfp_mask)
    if elements_addr is None:
        return -12   # -ENOMEM
    pool.elements_addr = elements_addr
    while pool.curr_nr < pool.min_nr:
        element = pool.alloc(gfp_mask, pool.pool_data)
        if element is None:
            mempool_exit(mp, pool)
            return -12
        add_element(mp, pool, element)
    mp.pools.append(pool)
    return 0


def mempool_init(mp: Mempools, pool: Mempool, min_nr: int, alloc_fn: AllocFn, free_fn: FreeFn,
                 pool_data: Any = None) -> int:
    """mm/mempool.c mempool_init_noprof: a pool embedded in another structure
    (GFP_KERNEL, NUMA_NO_NODE)."""
    return mempool_init_node(mp, pool, min_nr, alloc_fn, free_fn, pool_data, GFP_KERNEL, NUMA_NO_NODE)


def mempool_create_node(mp: Mempools, min_nr: int, alloc_fn: AllocFn, free_fn: FreeFn, pool_data: Any,
                        gfp_mask: int, node_id: int = NUMA_NO_NODE) -> Mempool | None:
    """mm/mempool.c mempool_create_node_noprof: kmalloc_node(sizeof(*pool),
    gfp | __GFP_ZERO), then mempool_init_node; NULL (nothing kept) on failure."""
    addr = SL.kmalloc(mp.slab, SIZEOF_MEMPOOL, gfp_mask | __GFP_ZERO)
    if addr is None:
        return None
    pool = Mempool(0, alloc_fn, free_fn, pool_data, addr)
    if mempool_init_node(mp, pool, min_nr, alloc_fn, free_fn, pool_data, gfp_mask, node_id):
        SL.kfree(mp.slab, addr)
        pool.destroyed = True
        return None
    return pool


def mempool_create(mp: Mempools, min_nr: int, alloc_fn: AllocFn, free_fn: FreeFn,
                   pool_data: Any = None) -> Mempool | None:
    """include/linux/mempool.h mempool_create: mempool_create_node(...,
    GFP_KERNEL, NUMA_NO_NODE). May sleep."""
    return mempool_create_node(mp, min_nr, alloc_fn, free_fn, pool_data, GFP_KERNEL, NUMA_NO_NODE)


def mempool_destroy(mp: Mempools, pool: Mempool | None) -> bool:
    """mm/mempool.c mempool_destroy: NULL is a no-op; else mempool_exit and
    kfree(pool). Elements still handed out are not checked for (6.x has no
    BUG_ON here); their later mempool_free is a use after free of the pool
    (logged, and the element goes back to its allocator). Returns True."""
    if pool is None:
        return True
    if pool.destroyed:
        mp.log.printk(KERN_WARNING, "mempool_destroy: pool already destroyed (double free)")
        return False
    mempool_exit(mp, pool)
    SL.kfree(mp.slab, pool.addr)
    pool.destroyed = True
    return True


def mempool_resize(mp: Mempools, pool: Mempool, new_min_nr: int) -> int:
    """mm/mempool.c mempool_resize (no gfp argument since 4.x). BUG_ON(new_min_nr
    <= 0) (logged; -EINVAL here). Shrinking frees the surplus; growing
    kmalloc_array's a new array (GFP_KERNEL; -ENOMEM only if that fails) and
    fills it with alloc_fn(GFP_KERNEL) as far as that goes (returns 0 even when
    short: mempool_free refills). May sleep."""
    if new_min_nr <= 0:
        mempool_bug(mp, LINE_RESIZE_BUG, "mempool_resize")
        return -22   # -EINVAL
    if new_min_nr <= pool.min_nr:
        while new_min_nr < pool.curr_nr:
            element = remove_element(mp, pool)
            pool.free(element, pool.pool_data)
        pool.min_nr = new_min_nr
        return 0
    new_elements = kmalloc_array_node(mp, new_min_nr, SIZEOF_POINTER, GFP_KERNEL)
    if new_elements is None:
        return -12   # -ENOMEM
    if pool.elements_addr:
        SL.kfree(mp.slab, pool.elements_addr)
    pool.elements_addr = new_elements
    pool.min_nr = new_min_nr
    while pool.curr_nr < pool.min_nr:
        element = pool.alloc(GFP_KERNEL, pool.pool_data)
        if element is None:
            break
        add_element(mp, pool, element)
    mp.pools.append(pool)
    return 0


# -- alloc / free -----------------------------------------------------------------


def mempool_alloc(mp: Mempools, pool: Mempool, gfp_mask: int) -> Any:
    """mm/mempool.c mempool_alloc_noprof. An element, or None (see the module
    doc for the sleep)."""
    if pool.destroyed:
        mp.log.printk(KERN_WARNING, "mempool_alloc: pool was destroyed (use after free)")
        return None
    if gfp_mask & __GFP_ZERO and mp.debug_vm and not mp.warned_zero:
        mp.warned_zero = True      # VM_WARN_ON_ONCE(gfp_mask & __GFP_ZERO)
        mempool_warn(mp, LINE_ALLOC_WARN, "mempool_alloc_noprof")
    orig_mask = gfp_mask
    gfp_mask |= __GFP_NOMEMALLOC   # don't allocate emergency reserves
    gfp_mask |= __GFP_NORETRY      # don't loop in __alloc_pages
    gfp_mask |= __GFP_NOWARN       # failures are OK
    pid = mp.sched.current.pid
    # after a sleep the kernel's `goto repeat_alloc` keeps gfp_temp = gfp_mask
    if pid in pool.retrying:
        gfp_temp = gfp_mask
    else:
        gfp_temp = gfp_mask & ~(__GFP_DIRECT_RECLAIM | __GFP_IO)
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
        # We use gfp mask w/o direct reclaim or IO for the first round. If
        # alloc failed with that and @pool was empty, retry immediately.
        if gfp_temp != gfp_mask:
            gfp_temp = gfp_mask
            continue
        # We must not sleep if !__GFP_DIRECT_RECLAIM
        if not gfp_mask & __GFP_DIRECT_RECLAIM:
            pool.retrying.discard(pid)
            return None
        # Let's wait for someone else to return an element to @pool:
        # prepare_to_wait(TASK_UNINTERRUPTIBLE); io_schedule_timeout(5*HZ)
        if mp.sched.sleep_ok:
            pool.retrying.add(pid)
            pool.sleeps += 1
            mp.sched.sleep_request = (orig_mask, mempool_element_order(mp, pool), pool)
            return None
        pool.retrying.discard(pid)
        return None


def mempool_alloc_preallocated(mp: Mempools, pool: Mempool) -> Any:
    """mm/mempool.c mempool_alloc_preallocated: the reserve only, never sleeps."""
    if pool.curr_nr:
        pool.from_reserve += 1
        return remove_element(mp, pool)
    return None


def mempool_add_waiter(mp: Mempools, pool: Mempool, wake: Callable[[], None]) -> None:
    """prepare_to_wait(&pool->wait): `wake` is called once, by the next
    mempool_free that puts an element into the reserve (wake_up(&pool->wait))."""
    pool.wait.append(wake)


def mempool_remove_waiter(mp: Mempools, pool: Mempool, wake: Callable[[], None]) -> None:
    """finish_wait(&pool->wait) after a timeout."""
    if wake in pool.wait:
        pool.wait.remove(wake)


def _refilled(mp: Mempools, pool: Mempool) -> None:
    pool.refills += 1
    waiters, pool.wait = pool.wait, []
    for wake in waiters:   # wake_up(&pool->wait)
        wake()
    free_waiters = mp.sched.free_waiters
    if free_waiters is not None:
        free_waiters()


def mempool_free(mp: Mempools, element: Any, pool: Mempool) -> None:
    """mm/mempool.c mempool_free: NULL does nothing; into the reserve while
    curr_nr < min_nr (waking the sleepers), else free_fn. An empty min_nr == 0
    pool keeps the element for a sleeper (ZERO_MIN_FIX)."""
    if element is None:
        return
    if pool.destroyed:
        mp.log.printk(KERN_WARNING, "mempool_free: pool was destroyed (use after free)")
        pool.free(element, pool.pool_data)
        return
    if pool.curr_nr < pool.min_nr:
        add_element(mp, pool, element)
        _refilled(mp, pool)
        return
    if ZERO_MIN_FIX and pool.min_nr == 0 and pool.curr_nr == 0:
        pool.elements.append(element)   # the fix inlines add_element (no BUG_ON)
        _refilled(mp, pool)
        return
    pool.free(element, pool.pool_data)


def mempool_element_order(mp: Mempools, pool: Mempool) -> int:
    """The page order an element costs, for a failure report."""
    alloc = getattr(pool.alloc, "__func__", pool.alloc)
    if alloc is mempool_alloc_pages:
        order: int = pool.pool_data
        return order
    if alloc is mempool_alloc_slab:
        return int(getattr(pool.pool_data, "order", 0))
    if alloc is mempool_kmalloc or alloc is mempool_kvmalloc:
        size = int(pool.pool_data)
        return max(0, (size - 1) >> 12).bit_length()
    return 0


# -- the common element allocators (pool_data as in 6.x) -----------------------


def mempool_alloc_slab(mp: Mempools, gfp_mask: int, pool_data: Any) -> int | None:
    """mm/mempool.c mempool_alloc_slab: kmem_cache_alloc(pool_data, gfp)."""
    element: int | None = SL.kmem_cache_alloc(mp.slab, pool_data, gfp_mask)
    return element


def mempool_free_slab(mp: Mempools, element: int, pool_data: Any) -> None:
    SL.kmem_cache_free(mp.slab, pool_data, element)


def mempool_kmalloc(mp: Mempools, gfp_mask: int, pool_data: int) -> int | None:
    """mm/mempool.c mempool_kmalloc: kmalloc((size_t)pool_data, gfp)."""
    element: int | None = SL.kmalloc(mp.slab, pool_data, gfp_mask)
    return element


def mempool_kfree(mp: Mempools, element: int, pool_data: int) -> None:
    SL.kfree(mp.slab, element)


def mempool_kvmalloc(mp: Mempools, gfp_mask: int, pool_data: int) -> int | None:
    """mm/mempool.c mempool_kvmalloc: kvmalloc((size_t)pool_data, gfp) (kmalloc
    alone while the pools have no vmalloc part)."""
    if mp.vmalloc is None:
        element: int | None = SL.kmalloc(mp.slab, pool_data, gfp_mask)
        return element
    return VM.kvmalloc(mp.vmalloc, pool_data, gfp_mask)


def mempool_kvfree(mp: Mempools, element: int, pool_data: int) -> None:
    if mp.vmalloc is None:
        SL.kfree(mp.slab, element)
    else:
        VM.kvfree(mp.vmalloc, element)


def mempool_alloc_pages(mp: Mempools, gfp_mask: int, pool_data: int) -> int | None:
    """mm/mempool.c mempool_alloc_pages: alloc_pages(gfp, order); elements are pfns."""
    pfn: int | None = PA.alloc_pages(mp.page_alloc, gfp_mask, pool_data)
    return pfn


def mempool_free_pages(mp: Mempools, element: int, pool_data: int) -> None:
    PA.__free_pages(mp.page_alloc, element, pool_data)


def mempool_create_slab_pool(mp: Mempools, min_nr: int, kc: Any) -> Mempool | None:
    """include/linux/mempool.h mempool_create_slab_pool."""
    return mempool_create(mp, min_nr, MethodType(mempool_alloc_slab, mp),
                          MethodType(mempool_free_slab, mp), kc)


def mempool_create_kmalloc_pool(mp: Mempools, min_nr: int, size: int) -> Mempool | None:
    """include/linux/mempool.h mempool_create_kmalloc_pool: no size check (an
    impossible size fails in the pre-fill's kmalloc)."""
    return mempool_create(mp, min_nr, MethodType(mempool_kmalloc, mp), MethodType(mempool_kfree, mp), size)


def mempool_create_kvmalloc_pool(mp: Mempools, min_nr: int, size: int) -> Mempool | None:
    """include/linux/mempool.h mempool_create_kvmalloc_pool."""
    return mempool_create(mp, min_nr, MethodType(mempool_kvmalloc, mp), MethodType(mempool_kvfree, mp), size)


def mempool_create_page_pool(mp: Mempools, min_nr: int, order: int) -> Mempool | None:
    """include/linux/mempool.h mempool_create_page_pool."""
    return mempool_create(mp, min_nr, MethodType(mempool_alloc_pages, mp),
                          MethodType(mempool_free_pages, mp), order)
