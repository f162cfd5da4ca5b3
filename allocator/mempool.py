"""Memory pools after 2.6.18 mm/mempool.c: a reserve of preallocated elements
that an allocation falls back on when the allocator itself fails.

mempool_alloc first asks the allocator without __GFP_WAIT/__GFP_IO (so it never
reclaims while the reserve could serve), then takes an element from the reserve,
and only then, if the caller may sleep, waits for mempool_free to give one back.
mempool_free refills the reserve before anything goes back to the allocator.

The allocator never blocks (see Kernel.sleep_ok): a mempool_alloc that has to
sleep records `(gfp, order, pool)` in `k.sleep_request` and returns None; the
caller waits for a free (mempool_free calls k.free_waiters) and retries.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .gfp import GFP_KERNEL, F
from .kmalloc import KMALLOC_SIZES
from .physmem import PAGE_SHIFT
from .printk import KERN_ALERT, KERN_EMERG, KERN_ERR

# sizeof(mempool_t) on i386 2.6.18: lock, min_nr, curr_nr, elements, pool_data,
# alloc, free (4 bytes each) and a wait_queue_head_t (12).
SIZEOF_MEMPOOL = 40
SIZEOF_POINTER = 4
# mempool_destroy's BUG line in mm/mempool.c (2.6.12..2.6.18 numbering).
MEMPOOL_DESTROY_BUG_LINE = 187


@dataclass(eq=False)
class Mempool:
    """mempool_t. `elements` is the reserve (the list's end is the top). The
    pool and its element array are kmalloc'd as in 2.6 (`addr`, `elements_addr`)
    so they cost what they cost; the reserve's contents live in the list."""
    min_nr: int
    alloc: Callable[[int, Any], Any]
    free: Callable[[Any, Any], None]
    pool_data: Any
    addr: int = 0
    elements_addr: int = 0
    elements: list = field(default_factory=list)
    destroyed: bool = False
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


class MempoolMixin:
    """The mempool half of Kernel."""

    # -- the reserve's invariants, guarded in one place ----------------------

    def _add_element(self, pool: Mempool, element) -> None:
        if pool.curr_nr >= pool.min_nr:
            self._mempool_bug("add_element", f"curr_nr {pool.curr_nr} >= min_nr {pool.min_nr}")
            return
        pool.elements.append(element)

    def _remove_element(self, pool: Mempool):
        if pool.curr_nr <= 0:
            self._mempool_bug("remove_element", "curr_nr is 0")
            return None
        return pool.elements.pop()

    def _mempool_bug(self, where: str, why: str) -> None:
        """A BUG() in mm/mempool.c: logged as the oops 2.6 prints; the daemon
        (the rest of the kernel) goes on."""
        self.oops_count = getattr(self, "oops_count", 0) + 1
        self.log.printk(KERN_ALERT, f"kernel BUG at mm/mempool.c:{MEMPOOL_DESTROY_BUG_LINE}!"
                        if where == "mempool_destroy" else "kernel BUG at mm/mempool.c!")
        self.log.printk(KERN_EMERG, f"invalid opcode: 0000 [#{self.oops_count}]")
        self.log.printk(KERN_EMERG, f"EIP is at {where} ({why})")
        self.log.printk(KERN_EMERG, f"Process {self.current.comm} (pid: {self.current.pid})")

    def _free_pool(self, pool: Mempool) -> None:
        while pool.curr_nr:
            pool.free(self._remove_element(pool), pool.pool_data)
        self.kfree(pool.elements_addr)
        self.kfree(pool.addr)
        pool.destroyed = True

    # -- create / resize / destroy -------------------------------------------

    def mempool_create(self, min_nr: int, alloc_fn: Callable, free_fn: Callable,
                       pool_data=None) -> Optional[Mempool]:
        """Create a pool and fill its reserve with min_nr elements from
        alloc_fn(GFP_KERNEL, pool_data). Returns None (nothing kept) if the pool
        or any element cannot be allocated. May sleep."""
        if min_nr <= 0:
            self._mempool_bug("mempool_create", f"min_nr {min_nr}")
            return None
        addr = self.kzalloc(SIZEOF_MEMPOOL, GFP_KERNEL)
        if addr is None:
            return None
        elements_addr = self.kmalloc(min_nr * SIZEOF_POINTER, GFP_KERNEL)
        if elements_addr is None:
            self.kfree(addr)
            return None
        pool = Mempool(min_nr, alloc_fn, free_fn, pool_data, addr, elements_addr)
        while pool.curr_nr < pool.min_nr:
            element = pool.alloc(GFP_KERNEL, pool.pool_data)
            if element is None:
                self._free_pool(pool)
                return None
            self._add_element(pool, element)
        return pool

    def mempool_resize(self, pool: Mempool, new_min_nr: int, gfp_mask: int) -> int:
        """Change the reserve's size. Shrinking frees the surplus at once;
        growing reallocates the element array and tops the reserve up as far
        as alloc_fn(gfp_mask) allows (a short top-up is not an error, as in
        2.6: mempool_free fills the rest). Returns 0 or -ENOMEM."""
        import errno
        if new_min_nr <= 0:
            self._mempool_bug("mempool_resize", f"new_min_nr {new_min_nr}")
            return -errno.EINVAL
        if new_min_nr <= pool.min_nr:
            while new_min_nr < pool.curr_nr:
                pool.free(self._remove_element(pool), pool.pool_data)
            pool.min_nr = new_min_nr
            return 0
        new_elements = self.kmalloc(new_min_nr * SIZEOF_POINTER, gfp_mask)
        if new_elements is None:
            return -errno.ENOMEM
        self.kfree(pool.elements_addr)
        pool.elements_addr = new_elements
        pool.min_nr = new_min_nr
        while pool.curr_nr < pool.min_nr:
            element = pool.alloc(gfp_mask, pool.pool_data)
            if element is None:
                break
            self._add_element(pool, element)
        return 0

    def mempool_destroy(self, pool: Optional[Mempool]) -> bool:
        """Free the reserve and the pool. With elements still handed out,
        2.6 hits BUG() before freeing anything: we log that oops, free nothing,
        keep the pool usable (its elements may still come back) and return False."""
        if pool is None:
            return True
        if pool.destroyed:
            self._mempool_bug("mempool_destroy", "pool already destroyed")
            return False
        if pool.curr_nr != pool.min_nr:
            self._mempool_bug("mempool_destroy", f"BUG_ON(pool->curr_nr != pool->min_nr):"
                                                 f" {pool.min_nr - pool.curr_nr} of {pool.min_nr}"
                                                 f" elements still out")
            return False
        self._free_pool(pool)
        return True

    # -- alloc / free ---------------------------------------------------------

    def mempool_alloc(self, pool: Mempool, gfp_mask: int):
        """Return an element, or None. Tries alloc_fn without __GFP_WAIT/__GFP_IO
        first, then the reserve. Only then, if gfp_mask has __GFP_WAIT: one more
        allocator pass with the full mask (reclaim, but __GFP_NORETRY), and
        failing that the caller must sleep until a mempool_free: with sleep_ok
        that is recorded in sleep_request; otherwise None."""
        if pool.destroyed:
            self._mempool_bug("mempool_alloc", "pool was destroyed")
            return None
        orig_mask = gfp_mask
        gfp_mask |= F.NOMEMALLOC | F.NORETRY | F.NOWARN  # failures are OK: the reserve is here
        element = pool.alloc(gfp_mask & ~(F.WAIT | F.IO), pool.pool_data)
        if element is not None:
            pool.from_allocator += 1
            return element
        if pool.curr_nr:
            pool.from_reserve += 1
            return self._remove_element(pool)
        if not gfp_mask & F.WAIT:
            return None
        # 2.6.18 sleeps first and retries with the full mask after waking; our
        # sleep is a retry of the caller's whole request, so that reclaiming
        # pass comes before the sleep. The reserve is still preferred to reclaim.
        element = pool.alloc(gfp_mask, pool.pool_data)
        if element is not None:
            pool.from_allocator += 1
            return element
        if self.sleep_ok:
            pool.sleeps += 1
            self.sleep_request = (orig_mask, self._mempool_element_order(pool), pool)
        return None

    def mempool_free(self, element, pool: Mempool) -> None:
        """Give an element back: into the reserve while it is below min_nr
        (waking a sleeper), else to the allocator through free_fn.
        mempool_free(None) does nothing."""
        if element is None:
            return
        if pool.destroyed:
            # a use-after-free of the pool: report it, but the element itself is
            # sound and its allocator is known, so it does not leak
            self._mempool_bug("mempool_free", "pool was destroyed")
            pool.free(element, pool.pool_data)
            return
        if pool.curr_nr < pool.min_nr:
            self._add_element(pool, element)
            pool.refills += 1
            if self.free_waiters is not None:
                self.free_waiters()
            return
        pool.free(element, pool.pool_data)

    def _mempool_element_order(self, pool: Mempool) -> int:
        """The page order an element costs, for a failure report."""
        alloc = getattr(pool.alloc, "__func__", pool.alloc)
        if alloc is MempoolMixin.mempool_alloc_pages:
            return pool.pool_data
        if alloc is MempoolMixin.mempool_alloc_slab:
            return pool.pool_data.gfporder
        if alloc is MempoolMixin.mempool_kmalloc:
            return max(0, (int(pool.pool_data) - 1).bit_length() - PAGE_SHIFT)
        return 0

    # -- the common element allocators (pool_data as in 2.6) ------------------

    def mempool_alloc_slab(self, gfp_mask: int, pool_data):
        """alloc_fn for a pool of objects of the kmem_cache pool_data."""
        return self.kmem_cache_alloc(pool_data, gfp_mask)

    def mempool_free_slab(self, element, pool_data) -> None:
        self.kmem_cache_free(pool_data, element)

    def mempool_kmalloc(self, gfp_mask: int, pool_data):
        """alloc_fn for a pool of kmalloc(pool_data) buffers."""
        return self.kmalloc(pool_data, gfp_mask)

    def mempool_kfree(self, element, pool_data) -> None:
        self.kfree(element)

    def mempool_alloc_pages(self, gfp_mask: int, pool_data):
        """alloc_fn for a pool of 2**pool_data pages (elements are pfns)."""
        return self.alloc_pages(gfp_mask, pool_data)

    def mempool_free_pages(self, element, pool_data) -> None:
        self.free_pages_pfn(element, pool_data)

    def mempool_create_slab_pool(self, min_nr: int, cachep) -> Optional[Mempool]:
        return self.mempool_create(min_nr, self.mempool_alloc_slab, self.mempool_free_slab, cachep)

    def mempool_create_kmalloc_pool(self, min_nr: int, size: int) -> Optional[Mempool]:
        if size > KMALLOC_SIZES[-1]:
            self.log.printk(KERN_ERR, f"mempool_create_kmalloc_pool: {size} bytes is more than kmalloc gives")
            return None
        return self.mempool_create(min_nr, self.mempool_kmalloc, self.mempool_kfree, size)

    def mempool_create_page_pool(self, min_nr: int, order: int) -> Optional[Mempool]:
        return self.mempool_create(min_nr, self.mempool_alloc_pages, self.mempool_free_pages, order)
