"""Lookaside caches after 2.6.18 mm/slab.c (SLAB), kmalloc and kfree included.

A cache owns slabs of 2**gfporder pages on three lists per node (partial,
full, free: struct list_head chains, in the kernel's order) and an array of
object pointers per CPU. kmem_cache_alloc pops from the CPU's array; when it
is empty, cache_alloc_refill moves a batch from the node's shared array or
its slabs, growing the cache by one slab if there is none. kmem_cache_free
pushes onto the array; a full array flushes a batch back (cache_flusharray).
On a NUMA kernel an object of another node's slab goes to the freeing node's
alien cache for that node (cache_free_alien).

Slab metadata costs what it costs in 2.6.18: each cache descriptor is an
object of `kmem_cache` (cache_cache), and the per-CPU arrays, the shared
array, the kmem_list3 of each node and the alien arrays are kmalloc'd, so
they show in size-32 ... size-2048. kmem_cache_init boots as 2.6.18 does
(INDEX_AC and INDEX_L3 first, the boot CPU alone, then the other CPUs come up
through cpuup_callback).

Objects are physical addresses. Counting follows SLAB: objects parked in per-CPU
and shared arrays are "active" in slabinfo; `cache.live` is the set of objects
really handed out (sysfs `objects`), and is what catches double and foreign
frees. It is kept in the slabs: each slab's kmem_bufctl_t array (slab_bufctl)
chains its free objects from `slabp.free_index`, as 2.6.18's does, and marks
every other object as parked in an array or handed out (the simulator's two
markers), so that an allocation or a free is a few native operations. The
arrays of a cache's slabs are consecutive pieces of one list (cache.bufctl),
so that growing the cache makes one Python object, the Slab.

A BUG() is logged as i386 prints it (`kernel BUG at mm/slab.c:LINE!`, the line
of the 4ba3a12d source) and the operation fails; the daemon never crashes.
With `debug` (CONFIG_DEBUG_SLAB) the slow paths call the checks of slab_debug.py.
"""
from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final, cast

from . import slab_debug as D
from .arch import Arch
from .counters import Counters
from .fault_inject import FaultInject, should_failslab
from .gfp import __GFP_DMA, __GFP_NO_GROW, __GFP_WAIT, GFP_DMA, GFP_KERNEL
from .kmalloc_sizes import KMALLOC_MAX_SIZE, KMALLOC_SIZES, SIZE_INDEX
from .page_alloc import BUG as page_alloc_BUG
from .page_alloc import PageAllocator, PageOwner, __free_pages, alloc_pages
from .printk import HZ, KERN_ALERT, KERN_EMERG, KERN_ERR, KERN_WARNING, KernelLog
from .sched import Sched, attach_cpu_view
from .slab_flags import (
    CFLGS_OFF_SLAB,
    CREATE_MASK,
    CREATE_MASK_DEBUG,
    SLAB_CACHE_DMA,
    SLAB_CTOR_ATOMIC,
    SLAB_CTOR_CONSTRUCTOR,
    SLAB_CTOR_VERIFY,
    SLAB_DEBUG_FLAGS,
    SLAB_DEBUG_FREE,
    SLAB_DEBUG_INITIAL,
    SLAB_DESTROY_BY_RCU,
    SLAB_FLAG_NAMES,
    SLAB_HWCACHE_ALIGN,
    SLAB_MEM_SPREAD,
    SLAB_MUST_HWCACHE_ALIGN,
    SLAB_NO_REAP,
    SLAB_PANIC,
    SLAB_POISON,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
    slab_flags_parse,
)
from .trace import KmemTrace
from .vmscan import Vmscan
from .vmstat import VmStat

# Besides what it defines, the module re-exports the flags of include/linux/slab.h:
# callers import them from here.
__all__ = [
    "CFLGS_OFF_SLAB",
    "CREATE_MASK",
    "CREATE_MASK_DEBUG",
    "SLAB_CACHE_DMA",
    "SLAB_CTOR_ATOMIC",
    "SLAB_CTOR_CONSTRUCTOR",
    "SLAB_CTOR_VERIFY",
    "SLAB_DEBUG_FLAGS",
    "SLAB_DEBUG_FREE",
    "SLAB_DEBUG_INITIAL",
    "SLAB_DESTROY_BY_RCU",
    "SLAB_FLAG_NAMES",
    "SLAB_HWCACHE_ALIGN",
    "SLAB_MEM_SPREAD",
    "SLAB_MUST_HWCACHE_ALIGN",
    "SLAB_NO_REAP",
    "SLAB_PANIC",
    "SLAB_POISON",
    "SLAB_RECLAIM_ACCOUNT",
    "SLAB_RED_ZONE",
    "SLAB_STORE_USER",
    "slab_flags_parse",
]

# -- i386 SMP structure sizes (no PREEMPT, no DEBUG_SPINLOCK: spinlock_t is 4 bytes)
SIZEOF_SPINLOCK: Final = 4
SIZEOF_STRUCT_SLAB: Final = 28     # struct slab: list_head 8, colouroff 4, s_mem 4, inuse 4, free 4, nodeid 2 (+2)
SIZEOF_ARRAY_CACHE: Final = 16 + SIZEOF_SPINLOCK   # avail, limit, batchcount, touched, lock; entry[] follows
BOOT_CPUCACHE_ENTRIES: Final = 1
SIZEOF_ARRAYCACHE_INIT: Final = SIZEOF_ARRAY_CACHE + 4 * BOOT_CPUCACHE_ENTRIES  # 24: INDEX_AC is size-32
# struct kmem_list3: 3 list_heads 24, free_objects 4, free_limit 4, colour_next 4,
# list_lock, shared 4, alien 4, next_reap 4, free_touched 4: 56, INDEX_L3 is size-64
SIZEOF_KMEM_LIST3: Final = 24 + 4 + 4 + 4 + SIZEOF_SPINLOCK + 4 + 4 + 4 + 4
NR_CPUS_DEFAULT: Final = 8         # arch/i386/Kconfig NR_CPUS default (SMP)
NR_CPUS_NUMA: Final = 32           # default "32" if X86_NUMAQ || X86_SUMMIT || ...
NODES_SHIFT_NUMA: Final = 3        # arch/i386/Kconfig NODES_SHIFT default "3" (NUMAQ: 4)
MAX_OBJ_ORDER: Final = 5
MAX_GFP_ORDER: Final = 5
MAX_ORDER: Final = 11
BATCHREFILL_LIMIT: Final = 16
REAPTIMEOUT_CPUC: Final = 2.0      # seconds: the reaper's period
REAPTIMEOUT_LIST3: Final = 4.0     # seconds: how often one node's lists are reaped
# include/linux/jiffies.h INITIAL_JIFFIES ((unsigned long)(unsigned int)(-300*HZ)):
# jiffies wraps 300 s after boot. l3->next_reap is in jiffies (unsigned long, 32 bits).
INITIAL_JIFFIES: Final = (-300 * HZ) & 0xFFFFFFFF
REAPTIMEOUT_LIST3_JIFFIES: Final = 4 * HZ
SLAB_LIMIT: Final = 0xFFFFFFFF - 3
BAD_ALIEN_MAGIC: Final = 0xBAADF00D  # the shared and alien arrays' batchcount (never used to refill)
SLABINFO_WRITE_MAX: Final = 128    # MAX_SLABINFO_WRITE
# slab_break_gfp_order: BREAK_GFP_ORDER_HI (1) above 32 MiB of RAM, else LO (0)
BREAK_GFP_ORDER_HI, BREAK_GFP_ORDER_LO = 1, 0
BREAK_GFP_ORDER_MEM: Final = 32 << 20
# include/linux/gfp.h GFP_LEVEL_MASK (SLAB_LEVEL_MASK): neither __GFP_DMA,
# __GFP_HIGHMEM nor __GFP_ZERO is in it
GFP_LEVEL_MASK: Final = 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x2000 \
    | 0x4000 | 0x10000 | 0x20000
LIST_POISON1: Final = 0x00100100

# Lines of the BUG()s in mm/slab.c at 4ba3a12d
BUG_PAGE_GET_CACHE: Final = 595        # page_get_cache: BUG_ON(!PageSlab(page))
BUG_CREATE_EARLY: Final = 2006         # kmem_cache_create: Early error in slab
BUG_CREATE_RCU_POISON: Final = 2064    # DEBUG: SLAB_DESTROY_BY_RCU with SLAB_POISON
BUG_CREATE_RCU_DTOR: Final = 2067      # SLAB_DESTROY_BY_RCU with a destructor
BUG_CREATE_MASK: Final = 2073          # BUG_ON(flags & ~CREATE_MASK)
BUG_DESTROY_NULL: Final = 2395         # kmem_cache_destroy: BUG_ON(!cachep || in_interrupt())
BUG_FLAGCHECK_DMA: Final = 2519        # kmem_flagcheck: GFP_DMA for a cache without it
BUG_FLAGCHECK_NODMA: Final = 2521      # kmem_flagcheck: a DMA cache without GFP_DMA
BUG_CACHE_GROW: Final = 2602           # cache_grow: BUG_ON(flags & ~(SLAB_DMA | SLAB_LEVEL_MASK | SLAB_NO_GROW))
BUG_KFREE_RANGE: Final = 2692          # kfree_debugcheck: out of range ptr
BUG_KFREE_BADPTR: Final = 2698         # kfree_debugcheck: bad ptr
BUG_FREE_OBJNR: Final = 2747           # cache_free_debugcheck: BUG_ON(objnr >= cachep->num)
BUG_FREE_NOTOBJ: Final = 2748          # cache_free_debugcheck: BUG_ON(objp != index_to_obj(...))
BUG_CACHE_FREE: Final = 3434           # kmem_cache_free: BUG_ON(virt_to_cache(objp) != cachep)
BUG_TUNE_KMEMLIST: Final = 3642        # do_tune_cpucache: alloc_kmemlist failed

# kmem_bufctl_t values besides the index of the next free object (the chain)
BUFCTL_END: Final = -1        # 2.6.18's BUFCTL_END (~0U): the chain's end
BUFCTL_PARKED: Final = -2     # the simulator's: off the slab, in an array cache
BUFCTL_LIVE: Final = -3       # the simulator's: handed out (cache.live)

LIST_FULL: Final = 0
LIST_PARTIAL: Final = 1
LIST_FREE: Final = 2

# ctor(slab allocator, object, cache, SLAB_CTOR_* flags); dtor the same with 0
Ctor = Callable[["SlabAllocator", int, "KmemCache", int], None]


def _align(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


class ArrayCache:
    """struct array_cache: a stack of object pointers, `slots[:avail]` (entry[]
    and avail; the top is slots[avail - 1]). The slots are kept when objects
    leave, so that pushing and popping allocate nothing. Below avail a slot is
    never None: it is typed `int | None` so that, compiled, it holds the very
    int object pushed (an object handed on or out is not unboxed and boxed
    again). `addr` is the kmalloc'd object that holds it (None: a static boot
    array)."""
    __slots__ = ("addr", "avail", "batchcount", "limit", "slots", "touched")

    def __init__(self, limit: int, batchcount: int, addr: int | None = None):
        self.slots: list[int | None] = [None] * limit
        self.avail = 0
        self.limit = limit
        self.batchcount = batchcount
        self.touched = False
        self.addr = addr

    @property
    def entry(self) -> list[int]:
        """ac->entry[0 .. avail-1], oldest first (a copy, for readers)."""
        return ac_oldest(self, self.avail)


def ac_oldest(ac: ArrayCache, n: int) -> list[int]:
    """ac->entry[0 .. n-1] (a copy)."""
    return cast("list[int]", ac.slots[:n])


def ac_push(ac: ArrayCache, objp: int | None) -> None:
    """ac->entry[ac->avail++] = objp."""
    avail = ac.avail
    slots = ac.slots
    if avail < len(slots):
        slots[avail] = objp
    else:
        slots.append(objp)
    ac.avail = avail + 1


def ac_drop_oldest(ac: ArrayCache, n: int) -> None:
    """The memmove after a flush: entry[n:] moves down to entry[0]."""
    slots = ac.slots
    avail = ac.avail - n
    for i in range(avail):
        slots[i] = slots[i + n]
    ac.avail = avail


class ListHead(PageOwner):
    """struct list_head: what SlabList and Slab have in common (a native base
    class, so that compiled, setting next/prev is a native attribute store). A
    PageOwner because Slab is one (one base class); a SlabList owns no frames."""
    __slots__ = ("next", "prev")

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.next: ListHead = self
        self.prev: ListHead = self


class SlabList(ListHead):
    """A list_head of slabs (slabs_partial, slabs_full, slabs_free): `next`
    is the head's first entry. Iterating walks from the head, as
    list_for_each_entry does."""
    __slots__ = ("count", "kind")

    def __init__(self, kind: int):
        super().__init__("slab list")
        self.count = 0
        self.kind = kind

    def __iter__(self) -> Iterator[Slab]:
        p = self.next
        while p is not self:
            assert isinstance(p, Slab)
            nxt = p.next
            yield p
            p = nxt

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.next is not self

    def first(self) -> Slab:
        p = self.next
        assert isinstance(p, Slab)
        return p

    def last(self) -> Slab:
        p = self.prev
        assert isinstance(p, Slab)
        return p


def __list_add(new: Slab, prev: ListHead, nxt: ListHead, head: SlabList) -> None:
    """include/linux/list.h __list_add: link `new` between two known entries
    (and note which of the cache's lists it is now on)."""
    nxt.prev = new
    new.next = nxt
    new.prev = prev
    prev.next = new
    new.on = head
    new.list = head.kind
    head.count += 1


def list_add(new: Slab, head: SlabList) -> None:
    """list_add: at the head (the next one taken)."""
    __list_add(new, head, head.next, head)


def list_add_tail(new: Slab, head: SlabList) -> None:
    """list_add_tail: at the tail."""
    __list_add(new, head.prev, head, head)


def list_del(entry: Slab) -> None:
    entry.next.prev = entry.prev
    entry.prev.next = entry.next
    on = entry.on
    if on is not None:
        on.count -= 1
        entry.on = None


class Slab(ListHead):
    """struct slab: one block of pages cut into objects; it owns its frames.
    slab_bufctl(slabp) is cache.bufctl[bufctl_base : bufctl_base + num]: for a
    free object the index of the next one (BUFCTL_END ends the chain), starting
    at slabp->free (`free_index`, the next object slab_get_obj hands out);
    BUFCTL_PARKED or BUFCTL_LIVE for the others."""
    __slots__ = ("bufctl_base", "colouroff", "free_index", "inuse", "list", "mgmt", "node", "on", "s_mem")
    # `cache` is PageOwner's (SlabCacheRef | None: mypyc keeps an attribute's
    # type in a subclass); a slab's is always its KmemCache, see _slab_cache.

    def __init__(self, cache: KmemCache, node: int):
        super().__init__(cache.name)
        self.cache = cache
        self.node = node
        self.colouroff = 0
        self.s_mem = 0
        self.inuse = 0
        self.bufctl_base = 0
        self.free_index = BUFCTL_END
        self.list = LIST_FREE
        self.on: SlabList | None = None
        self.mgmt: int | None = None  # off-slab descriptor object

    @property
    def addr(self) -> int:
        return self.pfn << _slab_cache(self).page_shift

    @property
    def free(self) -> list[int]:
        """The free objects' addresses, the next one slab_get_obj hands out last."""
        cachep = _slab_cache(self)
        size = cachep.buffer_size
        bufctl = cachep.bufctl
        out: list[int] = []
        i = self.free_index
        while i != BUFCTL_END:
            out.append(self.s_mem + i * size)
            i = bufctl[self.bufctl_base + i]
        out.reverse()
        return out


def slab_get_obj(bufctl: list[int], slabp: Slab, size: int, mark: int) -> int:
    """mm/slab.c slab_get_obj: the object at the head of the free chain (marked
    parked or live); the caller counts inuse. bufctl is the cache's."""
    i = slabp.free_index
    j = slabp.bufctl_base + i
    slabp.free_index = bufctl[j]
    bufctl[j] = mark
    return slabp.s_mem + i * size


def slab_put_obj(bufctl: list[int], slabp: Slab, objp: int, size: int) -> None:
    """mm/slab.c slab_put_obj: objp back at the head of its slab's free chain."""
    i = (objp - slabp.s_mem) // size
    bufctl[slabp.bufctl_base + i] = slabp.free_index
    slabp.free_index = i


def _slab_cache(slabp: Slab) -> KmemCache:
    """slabp->cache (GET_PAGE_CACHE): a Slab is built with its KmemCache."""
    return cast(KmemCache, slabp.cache)


class KmemList3:
    """struct kmem_list3: a node's slab lists, shared array and alien arrays.
    `addr` is the kmalloc'd object holding it (None: initkmem_list3 at boot)."""
    __slots__ = (
        "addr",
        "alien",
        "alien_addr",
        "colour_next",
        "free_limit",
        "free_objects",
        "free_touched",
        "lists",
        "next_reap",
        "shared",
        "slabs_free",
        "slabs_full",
        "slabs_partial",
        "up",
    )

    def __init__(self) -> None:
        self.slabs_partial = SlabList(LIST_PARTIAL)
        self.slabs_full = SlabList(LIST_FULL)
        self.slabs_free = SlabList(LIST_FREE)
        # full, partial, free, for the readers that walk all three
        self.lists = (self.slabs_full, self.slabs_partial, self.slabs_free)
        self.free_objects = 0
        self.free_limit = 0
        self.shared: ArrayCache | None = None
        self.alien: list[ArrayCache | None] | None = None
        self.alien_addr: int | None = None
        self.colour_next = 0
        self.free_touched = False
        self.next_reap = 0      # jiffies; 0 as the static (zeroed) initkmem_list3
        self.addr: int | None = None
        self.up = False     # set in cachep->nodelists[] (static at boot, or kmalloc'd)


class SlabStats(Counters):
    """SLAB's STATS of a cache (slabinfo's globalstat and cpustat), see counters.py."""
    NAMES = ("allocs", "active", "high", "max_freeable", "node_allocs", "overflows",
             "allochit", "allocmiss", "freehit", "freemiss")
    __slots__ = NAMES

    def __init__(self) -> None:
        self.allocs = self.active = self.high = self.max_freeable = self.node_allocs = 0
        self.overflows = self.allochit = self.allocmiss = self.freehit = self.freemiss = 0


@dataclass(eq=False)
class KmemCache:
    name: str
    obj_size: int          # the object size, word-aligned (DEBUG's cachep->obj_size)
    buffer_size: int
    align: int
    flags: int
    gfporder: int
    num: int
    colour: int
    colour_off: int
    slab_size: int
    gfpflags: int
    page_shift: int
    obj_offset: int = 0
    slabp_cache: KmemCache | None = None
    ctor: Ctor | None = None
    dtor: Ctor | None = None
    limit: int = 0
    batchcount: int = 0
    shared: int = 0
    array: list[ArrayCache] = field(default_factory=list)      # [cpu] -> ArrayCache
    nodelists: list[KmemList3] = field(default_factory=list)   # [node] -> KmemList3
    nlive: int = 0                 # objects handed out: len(live)
    # virt_to_page for the liveness queries (the page allocator's mem_map)
    mem_map: list[PageOwner | None] = field(default_factory=list)
    # the slabs' kmem_bufctl_t arrays, `num` entries each from Slab.bufctl_base;
    # the bases of destroyed slabs' pieces, for the next slabs
    bufctl: list[int] = field(default_factory=list)
    bufctl_unused: list[int] = field(default_factory=list)
    kmalloc: bool = False          # a general (size-N) cache
    has_shrinker: bool = False     # its objects are reclaimed by a registered shrinker
    failslab: bool = False         # sysfs `failslab`: eligible when failslab/cache-filter is on
    stats: SlabStats = field(default_factory=SlabStats)  # SLAB's STATS
    desc: int | None = None        # its struct kmem_cache, an object of cache_cache
    grown: int = 0
    reaped: int = 0
    errors: int = 0
    node_frees: int = 0

    def slab_counts(self) -> tuple[int, int, int, int]:
        """(num_slabs, active_slabs, num_objs, active_objs) as s_show."""
        total = free_slabs = free_objs = 0
        for l3 in self.nodelists:
            total += l3.slabs_full.count + l3.slabs_partial.count + l3.slabs_free.count
            free_slabs += l3.slabs_free.count
            free_objs += l3.slabs_free.count * self.num + sum(self.num - s.inuse for s in l3.slabs_partial)
        num_objs = total * self.num
        return total, total - free_slabs, num_objs, num_objs - free_objs

    def shared_avail(self) -> int:
        return sum(l3.shared.avail for l3 in self.nodelists if l3.shared)

    @property
    def live(self) -> LiveObjects:
        """The objects handed out and not freed (a set view kept in the slabs)."""
        return LiveObjects(self)

    def __repr__(self) -> str:
        return f"<KmemCache {self.name} {self.buffer_size}>"


class LiveObjects:
    """A cache's objects handed out, as a read-only set: the slots of its slabs
    whose bufctl is BUFCTL_LIVE (iterated slab by slab, full then partial)."""
    __slots__ = ("cachep",)

    def __init__(self, cachep: KmemCache) -> None:
        self.cachep = cachep

    def __contains__(self, objp: object) -> bool:
        return isinstance(objp, int) and live_index(self.cachep, objp) >= 0

    def __len__(self) -> int:
        return self.cachep.nlive

    def __bool__(self) -> bool:
        return self.cachep.nlive > 0

    def __iter__(self) -> Iterator[int]:
        c = self.cachep
        size = c.buffer_size
        bufctl = c.bufctl
        for l3 in c.nodelists:
            for lst in (l3.slabs_full, l3.slabs_partial):
                for slabp in lst:
                    base = slabp.bufctl_base
                    for i in range(c.num):
                        if bufctl[base + i] == BUFCTL_LIVE:
                            yield slabp.s_mem + i * size

    def as_set(self) -> set[int]:
        return set(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LiveObjects):
            return self.as_set() == other.as_set()
        if isinstance(other, (set, frozenset)):
            return self.as_set() == other
        return NotImplemented

    def __and__(self, other: set[int]) -> set[int]:
        return self.as_set() & other

    def __rand__(self, other: set[int]) -> set[int]:
        return other & self.as_set()

    def __repr__(self) -> str:
        return repr(self.as_set())


def live_index(cachep: KmemCache, objp: int) -> int:
    """The slot index of objp in its slab if it is one of cachep's objects
    handed out (its bufctl is BUFCTL_LIVE), else -1."""
    mem_map = cachep.mem_map
    pfn = objp >> cachep.page_shift
    if objp < 0 or pfn >= len(mem_map):
        return -1
    owner = mem_map[pfn]
    if not isinstance(owner, Slab) or owner.cache is not cachep:
        return -1
    off = objp - owner.s_mem
    if off < 0:
        return -1
    size = cachep.buffer_size
    i = off // size
    if i >= cachep.num or i * size != off or cachep.bufctl[owner.bufctl_base + i] != BUFCTL_LIVE:
        return -1
    return i


def mark_live(s: SlabAllocator, cachep: KmemCache, objp: int) -> None:
    """An object leaves its array (or its slab) for the caller: cache.live.add.
    The allocation paths look slabs up in their allocator's mem_map (s.mem_map),
    as free_block does."""
    slabp = cast(Slab, s.mem_map[objp >> s.page_shift])
    cachep.bufctl[slabp.bufctl_base + (objp - slabp.s_mem) // cachep.buffer_size] = BUFCTL_LIVE
    cachep.nlive += 1


def unmark_live(s: SlabAllocator, cachep: KmemCache, objp: int) -> bool:
    """cache.live.remove: False (nothing changes) if objp is not handed out."""
    mem_map = s.mem_map
    pfn = objp >> s.page_shift
    if objp < 0 or pfn >= len(mem_map):
        return False
    owner = mem_map[pfn]
    if not isinstance(owner, Slab) or owner.cache is not cachep:
        return False
    off = objp - owner.s_mem
    if off < 0:
        return False
    size = cachep.buffer_size
    i = off // size
    if i >= cachep.num or i * size != off:
        return False
    bufctl = cachep.bufctl
    j = owner.bufctl_base + i
    if bufctl[j] != BUFCTL_LIVE:
        return False
    bufctl[j] = BUFCTL_PARKED
    cachep.nlive -= 1
    return True


class SlabAllocator:
    """SLAB's state: the cache chain, the general caches, the debug option."""

    def __init__(self, arch: Arch, page_alloc: PageAllocator, log: KernelLog, sched: Sched,
                 vmstat: VmStat, faults: FaultInject, trace: KmemTrace, vmscan: Vmscan,
                 debug: bool = False):
        self.arch = arch
        self.page_alloc = page_alloc
        self.mem = page_alloc.mem
        self.mem_map = page_alloc.mem_map   # virt_to_page: the frames' owners
        self.mem_size = page_alloc.mem.size
        self.page_shift = arch.page_shift
        self.page_size = arch.page_size
        self.bytes_per_word = arch.pointer_size
        self.sizeof_bufctl = arch.pointer_size   # kmem_bufctl_t is an unsigned int
        self.cache_line = arch.cache_line
        self.log = log
        self.sched = sched
        self.vmstat = vmstat
        self.faults = faults
        self.trace = trace
        self.vmscan = vmscan
        self.cpu_node = page_alloc.cpu_node
        self.nr_nodes = len(page_alloc.nodes)
        self.numa = self.nr_nodes > 1
        # the configuration assumed (docs/deviations.md): NR_CPUS and MAX_NUMNODES
        nr_cpus = sched.nr_cpus
        self.NR_CPUS = max(NR_CPUS_NUMA if self.numa else NR_CPUS_DEFAULT, nr_cpus)
        self.MAX_NUMNODES = max(1 << NODES_SHIFT_NUMA, 1 << (self.nr_nodes - 1).bit_length()) \
            if self.numa else 1
        self.cache_chain: list[KmemCache] = []  # newest first, like list_add
        self.malloc_sizes: list[KmemCache] = []
        self.malloc_sizes_dma: list[KmemCache] = []
        self.slab_break_gfp_order = (BREAK_GFP_ORDER_HI if page_alloc.nr_pages > BREAK_GFP_ORDER_MEM >> arch.page_shift
                                     else BREAK_GFP_ORDER_LO)
        self.debug: D.SlabDebug | None = D.SlabDebug() if debug else None
        self.create_mask = CREATE_MASK_DEBUG if debug else CREATE_MASK
        # set while debugging, fault injection or tracing is on: the fast paths step aside
        self.slow = debug
        self.current = sched.current            # the CpuView sched keeps up to date
        self.free_waiters: Callable[[], None] | None = None
        # boot state (kmem_cache_init): g_cpucache_up, slab_early_init, online CPUs
        self.g_cpucache_up = 0                  # NONE, PARTIAL_AC, PARTIAL_L3, FULL
        self.slab_early_init = True
        self.cpu_online = [False] * nr_cpus
        self.reap_node = [0] * nr_cpus          # NUMA: the node whose alien cache a CPU reaps next
        self.cache_cache: KmemCache | None = None
        attach_cpu_view(sched, self)


NONE, PARTIAL_AC, PARTIAL_L3, FULL = 0, 1, 2, 3


def jiffies(s: SlabAllocator) -> int:
    """The jiffies counter: INITIAL_JIFFIES at boot, HZ a second (32 bits)."""
    return (INITIAL_JIFFIES + int(s.log.uptime() * HZ)) & 0xFFFFFFFF


def time_after(a: int, b: int) -> bool:
    """include/linux/jiffies.h time_after(a, b): ((long)(b) - (long)(a) < 0), 32-bit."""
    return (b - a) & 0xFFFFFFFF >= 0x80000000


def l3_next_reap(s: SlabAllocator, cachep: KmemCache) -> int:
    """mm/slab.c (2.6.18), wherever a kmem_list3 is set up (set_up_list3s,
    setup_cpu_cache, alloc_kmemlist, cpuup_callback): `jiffies +
    REAPTIMEOUT_LIST3 + ((unsigned long)cachep) % REAPTIMEOUT_LIST3`, so that
    the caches' first reaps are spread over 4 s. cachep is the cache's struct
    kmem_cache (an object of cache_cache, at PAGE_OFFSET + its address);
    cache_cache itself is static, in the kernel image the simulator lacks: 0."""
    addr = s.arch.page_offset + cachep.desc if cachep.desc is not None else 0
    return (jiffies(s) + REAPTIMEOUT_LIST3_JIFFIES + addr % REAPTIMEOUT_LIST3_JIFFIES) & 0xFFFFFFFF


def BUG(s: SlabAllocator, line: int) -> None:
    """BUG() in mm/slab.c: page_alloc.BUG's report (i386 handle_BUG and die)."""
    page_alloc_BUG(s.log, s.current, line, "mm/slab.c")


def slab_bug(s: SlabAllocator, text: str) -> None:
    """A misuse that 2.6.18 would not notice at this point (the simulator's
    own check, docs/deviations.md): logged, and nothing changes."""
    s.log.printk(KERN_ERR, f"slab: {text}")


def nr_cpus_node(s: SlabAllocator, node: int) -> int:
    return sum(1 for c, online in enumerate(s.cpu_online) if online and s.cpu_node[c] == node)


def online_cpus(s: SlabAllocator) -> list[int]:
    return [c for c, online in enumerate(s.cpu_online) if online]


def sizeof_kmem_cache(s: SlabAllocator) -> int:
    """sizeof(struct kmem_cache) on i386: array[NR_CPUS], 4 tunables,
    nodelists[MAX_NUMNODES], 12 words and a list_head; STATS and DEBUG add
    14 counters and obj_offset/obj_size."""
    size = 4 * s.NR_CPUS + 16 + 4 * s.MAX_NUMNODES + 48 + 8
    if s.debug is not None:
        size += 14 * 4 + 8
    return size


# -- boot -------------------------------------------------------------------


def kmem_cache_init(s: SlabAllocator) -> None:
    """mm/slab.c kmem_cache_init (2.6.18), on the boot CPU; then the other
    CPUs come up (cpuup_callback CPU_UP_PREPARE, as smp_init does)."""
    line = s.cache_line
    s.cpu_online[0] = True
    # 1) cache_cache: static, its array and kmem_list3 static too
    size = _align(sizeof_kmem_cache(s), line)
    order = num = left_over = 0
    for order in range(MAX_ORDER):
        num, left_over = cache_estimate(s, order, size, line, 0)
        if num:
            break
    cc = KmemCache(name="kmem_cache", obj_size=sizeof_kmem_cache(s), buffer_size=size, align=line,
                   flags=0, gfporder=order, num=num, colour=left_over // line, colour_off=line,
                   slab_size=_align(num * s.sizeof_bufctl + SIZEOF_STRUCT_SLAB, line), gfpflags=0,
                   page_shift=s.page_shift, limit=BOOT_CPUCACHE_ENTRIES, batchcount=1, shared=1,
                   mem_map=s.mem_map)
    cc.array = [ArrayCache(BOOT_CPUCACHE_ENTRIES, 1) for _ in range(s.sched.nr_cpus)]
    cc.nodelists = [KmemList3() for _ in range(s.nr_nodes)]
    cc.nodelists[0].up = True       # initkmem_list3[CACHE_CACHE]
    s.cache_cache = cc
    s.cache_chain.insert(0, cc)
    # 2+3) the kmalloc caches; INDEX_AC and INDEX_L3 first
    index_ac = SIZE_INDEX[SIZEOF_ARRAYCACHE_INIT]
    index_l3 = SIZE_INDEX[SIZEOF_KMEM_LIST3]
    normal: list[KmemCache | None] = [None] * len(KMALLOC_SIZES)
    normal[index_ac] = _create_general(s, index_ac, 0)
    if index_ac != index_l3:
        normal[index_l3] = _create_general(s, index_l3, 0)
    s.slab_early_init = False
    for i in range(len(KMALLOC_SIZES)):
        if normal[i] is None:
            normal[i] = _create_general(s, i, 0)
        _create_general(s, i, SLAB_CACHE_DMA)
    # 4) replace the bootstrap head arrays of cache_cache and the INDEX_AC cache
    cc.array[0].addr = kmalloc(s, SIZEOF_ARRAYCACHE_INIT, GFP_KERNEL)
    s.malloc_sizes[index_ac].array[0].addr = kmalloc(s, SIZEOF_ARRAYCACHE_INIT, GFP_KERNEL)
    # 5) replace the bootstrap kmem_list3s (init_list)
    cc.nodelists[0].addr = kmalloc_node(s, SIZEOF_KMEM_LIST3, GFP_KERNEL, 0)
    for node in range(s.nr_nodes):
        s.malloc_sizes[index_ac].nodelists[node].addr = kmalloc_node(s, SIZEOF_KMEM_LIST3, GFP_KERNEL, node)
        if index_ac != index_l3:
            s.malloc_sizes[index_l3].nodelists[node].addr = kmalloc_node(s, SIZEOF_KMEM_LIST3, GFP_KERNEL,
                                                                         node)
    # 6) resize the head arrays to their final sizes
    for cachep in list(s.cache_chain):
        enable_cpucache(s, cachep)
    s.g_cpucache_up = FULL
    for cpu in range(1, s.sched.nr_cpus):
        cpuup_prepare(s, cpu)
        s.cpu_online[cpu] = True
    for cpu in range(s.sched.nr_cpus):
        init_reap_node(s, cpu)


def _create_general(s: SlabAllocator, i: int, dma: int) -> KmemCache:
    size = KMALLOC_SIZES[i]
    name = f"size-{size}(DMA)" if dma else f"size-{size}"
    # ARCH_KMALLOC_MINALIGN 0, ARCH_KMALLOC_FLAGS SLAB_HWCACHE_ALIGN
    cachep = kmem_cache_create(s, name, size, 0, SLAB_HWCACHE_ALIGN | dma | SLAB_PANIC)
    assert cachep is not None, name
    cachep.kmalloc = True
    table = s.malloc_sizes_dma if dma else s.malloc_sizes
    while len(table) <= i:
        table.append(cachep)
    table[i] = cachep
    return cachep


def cpuup_prepare(s: SlabAllocator, cpu: int) -> bool:
    """cpuup_callback CPU_UP_PREPARE: the new CPU's arrays (and a shared array
    and alien arrays that are dropped again when the node has them)."""
    node = s.cpu_node[cpu]
    for cachep in s.cache_chain:
        l3 = cachep.nodelists[node]
        if not l3.up:
            l3.addr = kmalloc_node(s, SIZEOF_KMEM_LIST3, GFP_KERNEL, node)
            l3.up = True
            l3.next_reap = l3_next_reap(s, cachep)
        l3.free_limit = (1 + nr_cpus_node(s, node)) * cachep.batchcount + cachep.num
    for cachep in s.cache_chain:
        nc = alloc_arraycache(s, node, cachep.limit, cachep.batchcount)
        if nc is None:
            return False
        shared = alloc_arraycache(s, node, cachep.shared * cachep.batchcount, BAD_ALIEN_MAGIC)
        if shared is None:
            return False
        alien = alloc_alien_cache(s, node, cachep.limit)
        cachep.array[cpu] = nc
        l3 = cachep.nodelists[node]
        if l3.shared is None:
            l3.shared = shared
            shared = None
        if s.numa and l3.alien is None and alien is not None:
            l3.alien, l3.alien_addr = alien
            alien = None
        if shared is not None:
            kfree(s, shared.addr)
        free_alien_cache(s, alien)
    return True


# -- metadata ---------------------------------------------------------------


def kmalloc_node(s: SlabAllocator, size: int, flags: int, node: int) -> int | None:
    """mm/slab.c kmalloc_node (CONFIG_NUMA; without it, kmalloc)."""
    cachep = kmem_find_general_cachep(s, size, flags)
    if cachep is None:
        return None
    return kmem_cache_alloc_node(s, cachep, flags, node)


def alloc_arraycache(s: SlabAllocator, node: int, entries: int, batchcount: int) -> ArrayCache | None:
    """An array_cache of `entries` pointers, kmalloc'd on `node`."""
    memsize = s.bytes_per_word * entries + SIZEOF_ARRAY_CACHE
    addr = kmalloc_node(s, memsize, GFP_KERNEL, node)
    if addr is None:
        return None
    return ArrayCache(entries, batchcount, addr)


def alloc_alien_cache(s: SlabAllocator, node: int, limit: int
                      ) -> tuple[list[ArrayCache | None], int] | None:
    """NUMA: a pointer per node and an array_cache for every other node (12
    entries when the cache's limit is above 1). Not NUMA: nothing is allocated
    (2.6.18 returns the dummy 0x01020304); None means failure."""
    if not s.numa:
        return [], 0
    if limit > 1:
        limit = 12
    ptr = kmalloc_node(s, s.bytes_per_word * s.MAX_NUMNODES, GFP_KERNEL, node)
    if ptr is None:
        return None
    arrays: list[ArrayCache | None] = []
    for i in range(s.nr_nodes):
        if i == node:
            arrays.append(None)
            continue
        ac = alloc_arraycache(s, node, limit, BAD_ALIEN_MAGIC)
        if ac is None:
            free_alien_cache(s, (arrays, ptr))
            return None
        arrays.append(ac)
    return arrays, ptr


def free_alien_cache(s: SlabAllocator, alien: tuple[list[ArrayCache | None], int] | None) -> None:
    if alien is None or not s.numa:
        return
    arrays, ptr = alien
    for ac in arrays:
        if ac is not None:
            kfree(s, ac.addr)
    kfree(s, ptr)


# -- geometry ---------------------------------------------------------------


def cache_estimate(s: SlabAllocator, gfporder: int, buffer_size: int, align: int,
                   flags: int) -> tuple[int, int]:
    """(num, left_over) for a slab of 2**gfporder pages (mm/slab.c cache_estimate)."""
    slab_size = s.page_size << gfporder
    bufctl = s.sizeof_bufctl
    if flags & CFLGS_OFF_SLAB:
        mgmt_size = 0
        nr_objs = min(slab_size // buffer_size, SLAB_LIMIT)
    else:
        nr_objs = (slab_size - SIZEOF_STRUCT_SLAB) // (buffer_size + bufctl)
        if _align(SIZEOF_STRUCT_SLAB + nr_objs * bufctl, align) + nr_objs * buffer_size > slab_size:
            nr_objs -= 1
        nr_objs = min(nr_objs, SLAB_LIMIT)
        mgmt_size = _align(SIZEOF_STRUCT_SLAB + nr_objs * bufctl, align)
    return nr_objs, slab_size - nr_objs * buffer_size - mgmt_size


def calculate_slab_order(s: SlabAllocator, size: int, align: int, flags: int) -> tuple[int, int, int]:
    """(gfporder, num, left_over): the smallest order whose waste is at most 1/8."""
    num = gfporder = left_over = 0
    for order in range(MAX_GFP_ORDER + 1):
        n, remainder = cache_estimate(s, order, size, align, flags)
        if not n:
            continue
        if flags & CFLGS_OFF_SLAB:
            # cache_grow() must not loop: limit objects of off-slab caches
            offslab_limit = (size - SIZEOF_STRUCT_SLAB) // s.sizeof_bufctl
            if n > offslab_limit:
                break
        num, gfporder, left_over = n, order, remainder
        if flags & SLAB_RECLAIM_ACCOUNT:
            break
        if order >= s.slab_break_gfp_order:
            break
        if left_over * 8 <= (s.page_size << order):
            break
    return gfporder, num, left_over


# -- create / destroy -------------------------------------------------------


def kmem_cache_create(s: SlabAllocator, name: str | None, size: int, align: int = 0, flags: int = 0,
                      ctor: Ctor | None = None, dtor: Ctor | None = None) -> KmemCache | None:
    """mm/slab.c kmem_cache_create (2.6.18): a cache of `size`-byte objects,
    or None. The usage bugs 2.6.18 BUG()s on (no name, a size out of range,
    a destructor without constructor, flags outside CREATE_MASK) are logged
    BUGs; a duplicate name is a printk and NULL. May sleep."""
    word = s.bytes_per_word
    if name is None or size < word or size > (1 << MAX_OBJ_ORDER) * s.page_size or (dtor and not ctor):
        s.log.printk(KERN_ERR, f"kmem_cache_create: Early error in slab {name if name is not None else '<NULL>'}")
        BUG(s, BUG_CREATE_EARLY)
        return None
    cachep: KmemCache | None = None
    if any(pc.name == name for pc in s.cache_chain):
        # printk without a level: default_message_loglevel, KERN_WARNING
        s.log.printk(KERN_WARNING, f"kmem_cache_create: duplicate cache {name}")
    else:
        cachep = __kmem_cache_create(s, name, size, align, flags, ctor, dtor)
    if cachep is None and flags & SLAB_PANIC:
        s.log.printk(KERN_EMERG, f"Kernel panic - not syncing: kmem_cache_create(): "
                                 f"failed to create slab `{name}'")
    return cachep


def __kmem_cache_create(s: SlabAllocator, name: str, size: int, align: int, flags: int,
                        ctor: Ctor | None, dtor: Ctor | None) -> KmemCache | None:
    word = s.bytes_per_word
    if s.debug is not None:
        if flags & SLAB_DEBUG_INITIAL and not ctor:
            s.log.printk(KERN_ERR, f"kmem_cache_create: No con, but init state check requested - {name}")
            flags &= ~SLAB_DEBUG_INITIAL
        flags = D.forced_debug_flags(size, flags, word)
        if flags & SLAB_DESTROY_BY_RCU and flags & SLAB_POISON:
            BUG(s, BUG_CREATE_RCU_POISON)
            return None
    if flags & SLAB_DESTROY_BY_RCU and dtor:
        BUG(s, BUG_CREATE_RCU_DTOR)
        return None
    if flags & ~s.create_mask:
        BUG(s, BUG_CREATE_MASK)
        return None
    if size & (word - 1):
        size = _align(size, word)
    # 1) arch recommendation; 3) the caller's alignment disables debugging above a word
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = s.cache_line
        while size <= ralign // 2:
            ralign //= 2
    else:
        ralign = word
    if ralign < align:
        ralign = align
        if ralign > word:
            flags &= ~(SLAB_RED_ZONE | SLAB_STORE_USER)
    align = ralign
    desc = kmem_cache_zalloc(s, s.cache_cache, GFP_KERNEL) if s.cache_cache is not None else None
    if s.cache_cache is not None and desc is None:
        return None
    obj_size = size
    obj_offset = 0
    if flags & SLAB_RED_ZONE:
        # redzoning only works with word aligned caches
        align = word
        obj_offset += word
        size += 2 * word
    if flags & SLAB_STORE_USER:
        align = word
        size += word
    if size >= (s.page_size >> 3) and not s.slab_early_init:
        flags |= CFLGS_OFF_SLAB
    size = _align(size, align)
    gfporder, num, left_over = calculate_slab_order(s, size, align, flags)
    if not num:
        s.log.printk(KERN_WARNING, f"kmem_cache_create: couldn't create cache {name}.")
        if desc is not None:
            assert s.cache_cache is not None
            kmem_cache_free(s, s.cache_cache, desc)
        return None
    slab_size = _align(num * s.sizeof_bufctl + SIZEOF_STRUCT_SLAB, align)
    if flags & CFLGS_OFF_SLAB and left_over >= slab_size:
        flags &= ~CFLGS_OFF_SLAB
        left_over -= slab_size
    if flags & CFLGS_OFF_SLAB:
        slab_size = num * s.sizeof_bufctl + SIZEOF_STRUCT_SLAB
    colour_off = max(s.cache_line, align)
    cachep = KmemCache(name=name, obj_size=obj_size, buffer_size=size, align=align,
                       flags=flags, gfporder=gfporder, num=num,
                       colour=left_over // colour_off, colour_off=colour_off,
                       slab_size=slab_size,
                       gfpflags=GFP_DMA if flags & SLAB_CACHE_DMA else 0,
                       page_shift=s.page_shift, obj_offset=obj_offset, ctor=ctor, dtor=dtor,
                       mem_map=s.mem_map)
    cachep.desc = desc
    if flags & CFLGS_OFF_SLAB:
        cachep.slabp_cache = kmem_find_general_cachep(s, slab_size, 0)
    cachep.array = [ArrayCache(0, 0) for _ in range(s.sched.nr_cpus)]
    cachep.nodelists = [KmemList3() for _ in range(s.nr_nodes)]
    if not setup_cpu_cache(s, cachep):
        _release_cache(s, cachep)
        return None
    s.cache_chain.insert(0, cachep)
    return cachep


def setup_cpu_cache(s: SlabAllocator, cachep: KmemCache) -> bool:
    """mm/slab.c setup_cpu_cache: the boot stages use one-entry arrays."""
    if s.g_cpucache_up == FULL:
        return enable_cpucache(s, cachep)
    ac = cachep.array[0]
    ac.limit, ac.batchcount = BOOT_CPUCACHE_ENTRIES, 1
    static_lists = True             # set_up_list3s: next_reap on every online node
    if s.g_cpucache_up == NONE:
        # initarray_generic and initkmem_list3: static
        s.g_cpucache_up = PARTIAL_L3 if SIZE_INDEX[SIZEOF_ARRAYCACHE_INIT] == SIZE_INDEX[SIZEOF_KMEM_LIST3] \
            else PARTIAL_AC
    else:
        ac.addr = kmalloc(s, SIZEOF_ARRAYCACHE_INIT, GFP_KERNEL)
        if s.g_cpucache_up == PARTIAL_AC:
            s.g_cpucache_up = PARTIAL_L3
        else:
            static_lists = False
            for node in range(s.nr_nodes):
                cachep.nodelists[node].addr = kmalloc_node(s, SIZEOF_KMEM_LIST3, GFP_KERNEL, node)
    for node, l3 in enumerate(cachep.nodelists):  # set_up_list3s (static) or the kmalloc'd ones
        l3.up = True
        # then cachep->nodelists[numa_node_id()]->next_reap; a kmalloc'd list of
        # another node keeps what kmem_list3_init leaves (taken as 0, docs/deviations.md)
        if static_lists or node == s.cpu_node[0]:
            l3.next_reap = l3_next_reap(s, cachep)
    cachep.batchcount = 1
    cachep.limit = BOOT_CPUCACHE_ENTRIES
    return True


def enable_cpucache(s: SlabAllocator, cachep: KmemCache) -> bool:
    """Default tunables by object size (mm/slab.c enable_cpucache). On an SMP
    kernel the shared array is 8 batches whatever the number of CPUs."""
    size = cachep.buffer_size
    if size > 131072:
        limit = 1
    elif size > s.page_size:
        limit = 8
    elif size > 1024:
        limit = 24
    elif size > 256:
        limit = 54
    else:
        limit = 120
    shared = 8 if size <= s.page_size else 0     # CONFIG_SMP
    if s.debug is not None and limit > 32:
        limit = 32
    err = do_tune_cpucache(s, cachep, limit, (limit + 1) // 2, shared)
    if err:
        s.log.printk(KERN_ERR, f"enable_cpucache failed for {cachep.name}, error {err}.")
        return False
    return True


def do_tune_cpucache(s: SlabAllocator, cachep: KmemCache, limit: int, batchcount: int, shared: int) -> int:
    """Replace the per-CPU arrays (objects in the old ones go back to their
    slabs), then alloc_kmemlist. Returns 0 or ENOMEM (an array too large to
    kmalloc). A failed alloc_kmemlist is 2.6.18's printk and BUG()."""
    cpus = online_cpus(s)
    new: dict[int, ArrayCache] = {}
    for i in cpus:
        ac = alloc_arraycache(s, s.cpu_node[i], limit, batchcount)
        if ac is None:
            for old_new in new.values():
                kfree(s, old_new.addr)
            return errno.ENOMEM
        new[i] = ac
    olds = {i: cachep.array[i] for i in cpus}
    for i in cpus:
        cachep.array[i] = new[i]
    cachep.batchcount, cachep.limit, cachep.shared = batchcount, limit, shared
    for i in cpus:
        ccold = olds[i]
        if ccold.avail:
            free_block(s, cachep, ccold.entry, s.cpu_node[i])
            ccold.avail = 0
        if ccold.addr is not None:
            kfree(s, ccold.addr)
    err = alloc_kmemlist(s, cachep)
    if err:
        s.log.printk(KERN_ERR, f"alloc_kmemlist failed for {cachep.name}, error {err}.")
        BUG(s, BUG_TUNE_KMEMLIST)
        return err
    return 0


def alloc_kmemlist(s: SlabAllocator, cachep: KmemCache) -> int:
    """mm/slab.c alloc_kmemlist: each node's shared array (`shared` batches;
    an array of 0 entries when shared is 0), alien arrays, and kmem_list3."""
    for node in range(s.nr_nodes):
        new_alien = alloc_alien_cache(s, node, cachep.limit)
        if new_alien is None:
            return errno.ENOMEM
        new_shared = alloc_arraycache(s, node, cachep.shared * cachep.batchcount, BAD_ALIEN_MAGIC)
        if new_shared is None:
            free_alien_cache(s, new_alien)
            return errno.ENOMEM
        l3 = cachep.nodelists[node]
        if l3.up:
            shared = l3.shared
            if shared is not None and shared.avail:
                free_block(s, cachep, shared.entry, node)
                shared.avail = 0
            l3.shared = new_shared
            if s.numa and l3.alien is None:
                l3.alien, l3.alien_addr = new_alien
                new_alien = None
            l3.free_limit = (1 + nr_cpus_node(s, node)) * cachep.batchcount + cachep.num
            if shared is not None:
                kfree(s, shared.addr)
            free_alien_cache(s, new_alien)
            continue
        addr = kmalloc_node(s, SIZEOF_KMEM_LIST3, GFP_KERNEL, node)
        if addr is None:
            free_alien_cache(s, new_alien)
            kfree(s, new_shared.addr)
            return errno.ENOMEM
        l3.addr = addr
        l3.up = True
        l3.next_reap = l3_next_reap(s, cachep)
        l3.shared = new_shared
        if s.numa:
            l3.alien, l3.alien_addr = new_alien
        l3.free_limit = (1 + nr_cpus_node(s, node)) * cachep.batchcount + cachep.num
    return 0


def _release_cache(s: SlabAllocator, cachep: KmemCache) -> None:
    """What kmem_cache_destroy frees besides the slabs: the arrays, each
    node's shared and alien arrays and kmem_list3, the descriptor."""
    for ac in cachep.array:
        if ac.addr is not None:
            kfree(s, ac.addr)
            ac.addr = None
    for l3 in cachep.nodelists:
        if l3.shared is not None and l3.shared.addr is not None:
            kfree(s, l3.shared.addr)
        l3.shared = None
        if l3.alien is not None and l3.alien_addr is not None:
            free_alien_cache(s, (l3.alien, l3.alien_addr))
        l3.alien = None
        if l3.addr is not None:
            kfree(s, l3.addr)
            l3.addr = None
        l3.up = False
    if cachep.desc is not None and s.cache_cache is not None:
        kmem_cache_free(s, s.cache_cache, cachep.desc)
        cachep.desc = None


def kmem_cache_destroy(s: SlabAllocator, cachep: KmemCache | None) -> int:
    """mm/slab.c kmem_cache_destroy: 0 on success. With objects still
    allocated: slab_error "Can't free all objects", the cache stays (back at
    the head of the chain), 1."""
    if cachep is None:
        BUG(s, BUG_DESTROY_NULL)
        return 1
    if cachep not in s.cache_chain:
        # list_del of an unlinked entry writes through LIST_POISON1
        s.log.printk(KERN_ALERT, "BUG: unable to handle kernel paging request at virtual address"
                                 f" {LIST_POISON1 + 4:08x}")
        return 1
    s.cache_chain.remove(cachep)
    if __cache_shrink(s, cachep):
        D.slab_error(s, "kmem_cache_destroy", cachep, "Can't free all objects")
        s.cache_chain.insert(0, cachep)
        return 1
    _release_cache(s, cachep)
    return 0


def find_cache(s: SlabAllocator, name: str) -> KmemCache | None:
    for c in s.cache_chain:
        if c.name == name:
            return c
    return None


# -- alloc ------------------------------------------------------------------


def kmem_cache_alloc(s: SlabAllocator, cachep: KmemCache, flags: int) -> int | None:
    """Return an object's physical address, or None. The flags matter only
    when the cache must grow (cache_grow checks them); the contents are stale."""
    if s.slow:
        return __cache_alloc(s, cachep, flags)
    cpu = s.current.cpu
    ac = cachep.array[cpu]
    avail = ac.avail
    if avail:
        ac.touched = True
        avail -= 1
        ac.avail = avail
        got = ac.slots[avail]       # the int object pushed, handed out as it is
    else:
        got = cache_alloc_refill(s, cachep, flags, cpu)
        if got is None:
            return None
    objp = got if got is not None else 0
    slabp = s.mem_map[objp >> s.page_shift]    # mark_live, inline
    assert isinstance(slabp, Slab)
    cachep.bufctl[slabp.bufctl_base + (objp - slabp.s_mem) // cachep.buffer_size] = BUFCTL_LIVE
    cachep.nlive += 1
    return got


def kmem_cache_zalloc(s: SlabAllocator, cachep: KmemCache | None, flags: int) -> int | None:
    """mm/slab.c kmem_cache_zalloc: kmem_cache_alloc, then obj_size bytes zeroed."""
    assert cachep is not None
    objp = kmem_cache_alloc(s, cachep, flags)
    if objp is not None:
        s.mem.zero(objp, obj_size(s, cachep))
    return objp


def obj_size(s: SlabAllocator, cachep: KmemCache) -> int:
    """mm/slab.c obj_size(): cachep->obj_size with DEBUG, else buffer_size."""
    return cachep.obj_size if s.debug is not None else cachep.buffer_size


def __cache_alloc(s: SlabAllocator, cachep: KmemCache, flags: int) -> int | None:
    """kmem_cache_alloc with debugging, failslab or tracing."""
    cpu = s.current.cpu
    debug = s.debug
    if debug is not None and not kmem_flagcheck(s, cachep, flags):
        return None
    if s.faults.failslab_armed and should_failslab(s.faults, cachep.obj_size, cachep.failslab, flags):
        return None
    objp = ____cache_alloc(s, cachep, flags, cpu)
    if objp is None:
        return None
    mark_live(s, cachep, objp)
    hook = s.trace.hook
    if hook is not None:
        hook("kmem_cache_alloc", cachep, objp, flags, None)
    if debug is not None:
        return D.cache_alloc_debugcheck_after(s, cachep, objp, flags)
    return objp


def ____cache_alloc(s: SlabAllocator, cachep: KmemCache, flags: int, cpu: int) -> int | None:
    """An object from the CPU's array, refilled if it is empty."""
    ac = cachep.array[cpu]
    if ac.avail:
        cachep.stats.allochit += 1
        ac.touched = True
        ac.avail -= 1
        return ac.slots[ac.avail]
    cachep.stats.allocmiss += 1
    return cache_alloc_refill(s, cachep, flags, cpu)


def transfer_objects(to: ArrayCache, frm: ArrayCache, max_nr: int) -> int:
    """mm/slab.c transfer_objects: the top `nr` entries of `frm`, in order,
    onto `to`; the receiving array is marked touched."""
    nr = frm.avail      # min(from->avail, max, to->limit - to->avail)
    if nr > max_nr:
        nr = max_nr
    if nr > to.limit - to.avail:
        nr = to.limit - to.avail
    if nr <= 0:
        return 0
    slots = frm.slots
    start = frm.avail - nr
    for i in range(start, frm.avail):
        ac_push(to, slots[i])
    frm.avail = start
    to.touched = True
    return nr


def cache_alloc_refill(s: SlabAllocator, cachep: KmemCache, flags: int, cpu: int) -> int | None:
    """mm/slab.c cache_alloc_refill: from the shared array, else from the head
    of slabs_partial (then slabs_free); the slab goes back to the head of
    slabs_full or slabs_partial. Grows the cache when nothing is found."""
    node = s.cpu_node[cpu]
    while True:
        ac = cachep.array[cpu]
        batchcount = ac.batchcount
        if not ac.touched and batchcount > BATCHREFILL_LIMIT:
            batchcount = BATCHREFILL_LIMIT
        l3 = cachep.nodelists[node]
        shared = l3.shared
        if not (shared is not None and transfer_objects(ac, shared, batchcount)):
            partial, full, free = l3.slabs_partial, l3.slabs_full, l3.slabs_free
            num = cachep.num
            size = cachep.buffer_size
            taken = 0
            while batchcount > 0:
                if partial.next is not partial:
                    slabp = partial.first()
                else:
                    l3.free_touched = True
                    if free.next is free:
                        break
                    slabp = free.first()
                take = num - slabp.inuse
                if take > batchcount:
                    take = batchcount
                bufctl = cachep.bufctl
                for _ in range(take):
                    ac_push(ac, slab_get_obj(bufctl, slabp, size, BUFCTL_PARKED))
                slabp.inuse += take
                batchcount -= take
                taken += take
                list_del(slabp)
                if slabp.inuse == num:
                    list_add(slabp, full)
                else:
                    list_add(slabp, partial)
            if taken:
                st = cachep.stats
                st.allocs += taken
                st.active += taken
                if st.active > st.high:
                    st.high = st.active
            l3.free_objects -= ac.avail
        if not ac.avail:
            grown = cache_grow(s, cachep, flags, node)
            ac = cachep.array[cpu]
            if not grown and not ac.avail:
                return None
            if not ac.avail:
                continue
        ac.touched = True
        ac.avail -= 1
        return ac.slots[ac.avail]


def kmem_cache_alloc_node(s: SlabAllocator, cachep: KmemCache, flags: int, nodeid: int) -> int | None:
    """mm/slab.c kmem_cache_alloc_node: another node's object straight from
    its slabs (__cache_alloc_node), the local node's through the array."""
    if not s.numa or nodeid == -1 or nodeid == s.cpu_node[s.current.cpu]:
        return kmem_cache_alloc(s, cachep, flags)
    if s.debug is not None and not kmem_flagcheck(s, cachep, flags):
        return None
    objp = __cache_alloc_node(s, cachep, flags, nodeid)
    if objp is None:
        return None
    cachep.nlive += 1       # __cache_alloc_node marked it live
    if s.debug is not None:
        return D.cache_alloc_debugcheck_after(s, cachep, objp, flags)
    return objp


def __cache_alloc_node(s: SlabAllocator, cachep: KmemCache, flags: int, nodeid: int) -> int | None:
    l3 = cachep.nodelists[nodeid]
    while True:
        partial, free = l3.slabs_partial, l3.slabs_free
        if partial:
            slabp = partial.first()
        else:
            l3.free_touched = True
            if not free:
                if not cache_grow(s, cachep, flags, nodeid):
                    return None
                continue
            slabp = free.first()
        st = cachep.stats
        st.node_allocs += 1
        st.active += 1
        st.high = max(st.high, st.active)
        obj = slab_get_obj(cachep.bufctl, slabp, cachep.buffer_size, BUFCTL_LIVE)
        slabp.inuse += 1
        l3.free_objects -= 1
        list_del(slabp)
        list_add(slabp, l3.slabs_full if slabp.inuse == cachep.num else partial)
        return obj


def kmem_flagcheck(s: SlabAllocator, cachep: KmemCache, flags: int) -> bool:
    """mm/slab.c kmem_flagcheck: GFP_DMA exactly for the DMA caches."""
    if flags & GFP_DMA:
        if not cachep.gfpflags & GFP_DMA:
            BUG(s, BUG_FLAGCHECK_DMA)
            return False
    elif cachep.gfpflags & GFP_DMA:
        BUG(s, BUG_FLAGCHECK_NODMA)
        return False
    return True


def cache_grow(s: SlabAllocator, cachep: KmemCache, flags: int, nodeid: int) -> bool:
    """mm/slab.c cache_grow: one slab at the tail of slabs_free. Flags outside
    GFP_DMA | GFP_LEVEL_MASK | __GFP_NO_GROW (__GFP_HIGHMEM, __GFP_ZERO) are a
    BUG; __GFP_NO_GROW returns 0; so does a failed page allocation."""
    if flags & ~(GFP_DMA | GFP_LEVEL_MASK | __GFP_NO_GROW):
        BUG(s, BUG_CACHE_GROW)
        return False
    if flags & __GFP_NO_GROW:
        return False
    ctor_flags = SLAB_CTOR_CONSTRUCTOR
    local_flags = flags & GFP_LEVEL_MASK
    if not local_flags & __GFP_WAIT:
        ctor_flags |= SLAB_CTOR_ATOMIC
    l3 = cachep.nodelists[nodeid]
    offset = l3.colour_next
    l3.colour_next += 1
    if l3.colour_next >= cachep.colour:
        l3.colour_next = 0
    offset *= cachep.colour_off
    if not kmem_flagcheck(s, cachep, flags):
        return False
    slabp = Slab(cachep, nodeid)
    pfn = alloc_pages(s.page_alloc, flags | cachep.gfpflags, cachep.gfporder, nodeid, slabp)
    if pfn is None:
        return False
    slabp.pfn = pfn
    addr = pfn << s.page_shift
    if cachep.flags & CFLGS_OFF_SLAB:
        assert cachep.slabp_cache is not None
        # alloc_slabmgmt: kmem_cache_alloc_node (without CONFIG_NUMA, kmem_cache_alloc)
        mgmt = (kmem_cache_alloc_node(s, cachep.slabp_cache, local_flags, nodeid) if s.numa
                else kmem_cache_alloc(s, cachep.slabp_cache, local_flags))
        if mgmt is None:
            __free_pages(s.page_alloc, pfn, cachep.gfporder, slab_pages=True)
            return False
        slabp.mgmt = mgmt
        slabp.colouroff = offset
    else:
        slabp.colouroff = offset + cachep.slab_size
    slabp.s_mem = addr + slabp.colouroff
    size = cachep.buffer_size
    s_mem = slabp.s_mem
    # cache_init_objs: bufctl[i] = i + 1, the last BUFCTL_END; free = 0
    num = cachep.num
    bufctl = cachep.bufctl
    unused = cachep.bufctl_unused
    if unused:
        base = unused.pop()
        for i in range(num - 1):
            bufctl[base + i] = i + 1
        bufctl[base + num - 1] = BUFCTL_END
    else:
        base = len(bufctl)
        for i in range(1, num):
            bufctl.append(i)
        bufctl.append(BUFCTL_END)
    slabp.bufctl_base = base
    slabp.free_index = 0
    if cachep.flags & SLAB_DEBUG_FLAGS:
        D.cache_init_objs_debug(s, cachep, [s_mem + i * size for i in range(num)], ctor_flags)
    elif cachep.ctor:
        for i in range(num):
            cachep.ctor(s, s_mem + i * size, cachep, ctor_flags)
    list_add_tail(slabp, l3.slabs_free)
    cachep.grown += 1
    l3.free_objects += cachep.num
    if cachep.flags & SLAB_RECLAIM_ACCOUNT:
        s.vmstat.nr_slab_reclaimable += 1 << cachep.gfporder
    else:
        s.vmstat.nr_slab_unreclaimable += 1 << cachep.gfporder
    return True


def slab_destroy(s: SlabAllocator, cachep: KmemCache, slabp: Slab) -> None:
    """slab_destroy_objs (the destructor; with DEBUG the poison and red zone
    checks, the destructor only without POISON) and the pages back."""
    if s.debug is not None and cachep.flags & (SLAB_POISON | SLAB_RED_ZONE):
        D.slab_destroy_objs_debug(s, cachep, slabp)
    elif cachep.dtor:
        for i in range(cachep.num):
            cachep.dtor(s, slabp.s_mem + i * cachep.buffer_size + cachep.obj_offset, cachep, 0)
    if cachep.flags & SLAB_RECLAIM_ACCOUNT:
        s.vmstat.nr_slab_reclaimable -= 1 << cachep.gfporder
    else:
        s.vmstat.nr_slab_unreclaimable -= 1 << cachep.gfporder
    __free_pages(s.page_alloc, slabp.pfn, cachep.gfporder, slab_pages=True)
    cachep.bufctl_unused.append(slabp.bufctl_base)
    if slabp.mgmt is not None:
        assert cachep.slabp_cache is not None
        kmem_cache_free(s, cachep.slabp_cache, slabp.mgmt)


# -- free -------------------------------------------------------------------


def kmem_cache_free(s: SlabAllocator, cachep: KmemCache, objp: int) -> None:
    """Give an object back to its cache. An object that is not allocated from
    this cache is a logged BUG (or the simulator's double-free report) and
    nothing changes."""
    if s.slow:
        return __cache_free(s, cachep, objp)
    # unmark_live, inline (the interpreted build pays for a call)
    owner = s.mem_map[objp >> s.page_shift] if 0 <= objp < s.mem_size else None
    if not isinstance(owner, Slab) or owner.cache is not cachep:
        return bad_free(s, cachep, objp)
    off = objp - owner.s_mem
    size = cachep.buffer_size
    i = off // size
    bufctl = cachep.bufctl
    j = owner.bufctl_base + i
    if off < 0 or i >= cachep.num or i * size != off or bufctl[j] != BUFCTL_LIVE:
        return bad_free(s, cachep, objp)
    bufctl[j] = BUFCTL_PARKED
    cachep.nlive -= 1
    cpu = s.current.cpu
    if s.numa and cache_free_alien(s, cachep, objp, cpu):
        return
    ac = cachep.array[cpu]
    if ac.avail >= ac.limit:
        cache_flusharray(s, cachep, ac, s.cpu_node[cpu])
    ac_push(ac, objp)
    waiters = s.free_waiters
    if waiters is not None:
        waiters()


def __cache_free(s: SlabAllocator, cachep: KmemCache, objp: int) -> None:
    """kmem_cache_free with debugging or tracing on."""
    if s.debug is not None:
        slot = D.cache_free_debugcheck(s, cachep, objp)
        if slot is None:
            return
        objp = slot
    if not unmark_live(s, cachep, objp):
        return bad_free(s, cachep, objp)
    hook = s.trace.hook
    if hook is not None:
        hook("kmem_cache_free", cachep, objp, 0, None)
    ____cache_free(s, cachep, objp)


def ____cache_free(s: SlabAllocator, cachep: KmemCache, objp: int) -> None:
    """mm/slab.c __cache_free: a remote node's object to the alien cache, else
    onto the CPU's array (flushing a batch when it is full)."""
    cpu = s.current.cpu
    if s.numa and cache_free_alien(s, cachep, objp, cpu):
        return
    ac = cachep.array[cpu]
    if ac.avail < ac.limit:
        cachep.stats.freehit += 1
    else:
        cachep.stats.freemiss += 1
        cache_flusharray(s, cachep, ac, s.cpu_node[cpu])
    ac_push(ac, objp)
    waiters = s.free_waiters
    if waiters is not None:
        waiters()


def cache_free_alien(s: SlabAllocator, cachep: KmemCache, objp: int, cpu: int) -> bool:
    """mm/slab.c cache_free_alien: an object of another node's slab goes to
    this node's alien array for that node (drained when full), or straight
    to its slab when there is no alien array."""
    slabp = s.mem_map[objp >> s.page_shift]
    assert isinstance(slabp, Slab)
    nodeid = slabp.node
    here = s.cpu_node[cpu]
    if nodeid == here:
        return False
    l3 = cachep.nodelists[here]
    cachep.node_frees += 1
    alien = l3.alien[nodeid] if l3.alien else None
    if alien is not None:
        if alien.avail >= alien.limit:
            cachep.stats.overflows += 1
            __drain_alien_cache(s, cachep, alien, nodeid)
        ac_push(alien, objp)
    else:
        free_block(s, cachep, [objp], nodeid)
    waiters = s.free_waiters
    if waiters is not None:
        waiters()
    return True


def __drain_alien_cache(s: SlabAllocator, cachep: KmemCache, ac: ArrayCache, node: int) -> None:
    """Into the remote node's shared array first, the rest to its slabs."""
    if ac.avail:
        rl3 = cachep.nodelists[node]
        if rl3.shared is not None:
            transfer_objects(rl3.shared, ac, ac.limit)
        free_block(s, cachep, ac.entry, node)
        ac.avail = 0


def drain_alien_cache(s: SlabAllocator, cachep: KmemCache, alien: list[ArrayCache | None]) -> None:
    for i, ac in enumerate(alien):
        if ac is not None:
            __drain_alien_cache(s, cachep, ac, i)


def reap_alien(s: SlabAllocator, cachep: KmemCache, l3: KmemList3, cpu: int) -> None:
    """cache_reap's round robin over the alien arrays (one node per pass)."""
    if l3.alien:
        node = s.reap_node[cpu]
        ac = l3.alien[node] if node < len(l3.alien) else None
        if ac is not None and ac.avail:
            __drain_alien_cache(s, cachep, ac, node)


def init_reap_node(s: SlabAllocator, cpu: int) -> None:
    s.reap_node[cpu] = (s.cpu_node[cpu] + 1) % s.nr_nodes


def next_reap_node(s: SlabAllocator, cpu: int) -> None:
    s.reap_node[cpu] = (s.reap_node[cpu] + 1) % s.nr_nodes


def bad_free(s: SlabAllocator, cachep: KmemCache | None, objp: int) -> None:
    """A free 2.6.18 would BUG on (a pointer outside any slab, another cache's
    object: BUG_ON(virt_to_cache(objp) != cachep)), or one it would not notice
    without DEBUG (a double free, the middle of an object): the simulator
    reports it and changes nothing (docs/deviations.md)."""
    owner = s.mem_map[objp >> s.page_shift] if 0 <= objp < s.mem_size else None
    if not isinstance(owner, Slab):
        BUG(s, BUG_PAGE_GET_CACHE)
    elif cachep is not None and owner.cache is not cachep:
        BUG(s, BUG_CACHE_FREE)
    elif (objp - owner.s_mem) % _slab_cache(owner).buffer_size or objp < owner.s_mem:
        slab_bug(s, f"kfree({objp:#x}): not the start of an object of cache `{_slab_cache(owner).name}'")
    else:
        slab_bug(s, f"double free of object {objp:#x} of cache `{_slab_cache(owner).name}'")


def cache_flusharray(s: SlabAllocator, cachep: KmemCache, ac: ArrayCache, node: int) -> None:
    """mm/slab.c cache_flusharray: the oldest batchcount entries to the
    shared array if it has room (as many as fit), else to their slabs."""
    batchcount = ac.batchcount
    l3 = cachep.nodelists[node]
    shared = l3.shared
    if shared is not None:
        room = shared.limit - shared.avail
        if room > 0:
            batchcount = min(batchcount, room)
            slots = ac.slots
            for i in range(batchcount):
                ac_push(shared, slots[i])
            ac_drop_oldest(ac, batchcount)
            return
    free_block(s, cachep, ac_oldest(ac, batchcount), node)
    if s.debug is not None:
        freeable = l3.slabs_free.count
        cachep.stats.max_freeable = max(cachep.stats.max_freeable, freeable)
    ac_drop_oldest(ac, batchcount)


def free_block(s: SlabAllocator, cachep: KmemCache, objs: list[int], node: int) -> None:
    """mm/slab.c free_block: each object back to its slab (slab_put_obj); an
    emptied slab to the head of slabs_free, or destroyed above free_limit; a
    partial one to the tail of slabs_partial."""
    mem_map = s.mem_map
    shift = s.page_shift
    num = cachep.num
    l3 = cachep.nodelists[node]
    free = l3.slabs_free
    partial = l3.slabs_partial
    size = cachep.buffer_size
    bufctl = cachep.bufctl
    cachep.stats.active -= len(objs)
    for objp in objs:
        slabp = mem_map[objp >> shift]
        assert isinstance(slabp, Slab)
        list_del(slabp)
        slab_put_obj(bufctl, slabp, objp, size)
        slabp.inuse -= 1
        l3.free_objects += 1
        if slabp.inuse == 0:
            if l3.free_objects > l3.free_limit:
                l3.free_objects -= num
                slab_destroy(s, cachep, slabp)
            else:
                list_add(slabp, free)
        else:
            list_add_tail(slabp, partial)


# -- shrinking and reaping --------------------------------------------------


def drain_cpu_caches(s: SlabAllocator, cachep: KmemCache) -> None:
    """do_drain on every CPU, the alien arrays, then each shared array."""
    for cpu, ac in enumerate(cachep.array):
        if ac.avail:
            free_block(s, cachep, ac.entry, s.cpu_node[cpu])
            ac.avail = 0
    for l3 in cachep.nodelists:
        if l3.alien:
            drain_alien_cache(s, cachep, l3.alien)
    for node, l3 in enumerate(cachep.nodelists):
        drain_array(s, cachep, l3.shared, True, node)


def drain_freelist(s: SlabAllocator, cachep: KmemCache, l3: KmemList3, tofree: int) -> int:
    """Destroy up to `tofree` free slabs, from the tail (slabs_free.prev)."""
    free = l3.slabs_free
    n = 0
    while n < tofree and free:
        slabp = free.last()
        list_del(slabp)
        l3.free_objects -= cachep.num
        slab_destroy(s, cachep, slabp)
        n += 1
    return n


def __cache_shrink(s: SlabAllocator, cachep: KmemCache) -> bool:
    """Drain the arrays and free every free slab. True if objects remain."""
    drain_cpu_caches(s, cachep)
    busy = False
    for l3 in cachep.nodelists:
        drain_freelist(s, cachep, l3, l3.free_objects)
        busy = busy or bool(l3.slabs_full or l3.slabs_partial)
    return busy


def kmem_cache_shrink(s: SlabAllocator, cachep: KmemCache) -> int:
    """Drain per-CPU arrays and release free slabs; 1 if objects remain, else 0."""
    return int(__cache_shrink(s, cachep))


def drain_array(s: SlabAllocator, cachep: KmemCache, ac: ArrayCache | None, force: bool, node: int) -> None:
    """mm/slab.c drain_array: a touched array is only untouched; otherwise a
    fifth of its limit (all with force) goes back to the slabs, oldest first."""
    if not ac or not ac.avail:
        return
    if ac.touched and not force:
        ac.touched = False
        return
    tofree = ac.avail if force else (ac.limit + 4) // 5
    if tofree > ac.avail:
        tofree = (ac.avail + 1) // 2
    free_block(s, cachep, ac_oldest(ac, tofree), node)
    ac_drop_oldest(ac, tofree)


def cache_reap(s: SlabAllocator) -> None:
    """The periodic reaper (every REAPTIMEOUT_CPUC): each CPU's pass of
    mm/slab.c cache_reap in turn. SLAB_NO_REAP caches are skipped (LDD3's
    2.6.10 meaning, docs/deviations.md)."""
    now = jiffies(s)
    for cpu in online_cpus(s):
        node = s.cpu_node[cpu]
        for cachep in list(s.cache_chain):
            if cachep.flags & SLAB_NO_REAP:
                continue
            l3 = cachep.nodelists[node]
            reap_alien(s, cachep, l3, cpu)
            drain_array(s, cachep, cachep.array[cpu], False, node)
            if time_after(l3.next_reap, now):
                continue
            l3.next_reap = (now + REAPTIMEOUT_LIST3_JIFFIES) & 0xFFFFFFFF
            drain_array(s, cachep, l3.shared, False, node)
            if l3.free_touched:
                l3.free_touched = False
            else:
                n = drain_freelist(s, cachep, l3, (l3.free_limit + 5 * cachep.num - 1) // (5 * cachep.num))
                cachep.reaped += n
        next_reap_node(s, cpu)


# -- the slabinfo write interface -------------------------------------------


def slabinfo_write(s: SlabAllocator, data: bytes) -> int:
    """mm/slab.c slabinfo_write: `name limit batchcount shared`. Returns 0 or
    an errno (EINVAL; ENOMEM when a per-CPU array cannot be kmalloc'd). A
    shared array too large to kmalloc is alloc_kmemlist's failure: printk and
    BUG (the writer gets ENOMEM). Out-of-range values for a known cache are ignored."""
    if len(data) > SLABINFO_WRITE_MAX:
        return errno.EINVAL
    text = data.decode("latin-1")
    name, sep, rest = text.partition(" ")
    if not sep:
        return errno.EINVAL
    fields = rest.split()
    if len(fields) < 3:
        return errno.EINVAL
    try:
        limit, batchcount, shared = (int(x) for x in fields[:3])
    except ValueError:
        return errno.EINVAL
    cachep = find_cache(s, name)
    if cachep is None:
        return errno.EINVAL
    if limit < 1 or batchcount < 1 or batchcount > limit or shared < 0:
        return 0
    return do_tune_cpucache(s, cachep, limit, batchcount, shared)


# -- queries ----------------------------------------------------------------


def slab_of(s: SlabAllocator, addr: int) -> Slab | None:
    """The slab whose pages hold physical address addr, or None."""
    owner = s.mem_map[addr >> s.page_shift] if 0 <= addr < s.mem_size else None
    return owner if isinstance(owner, Slab) else None


def slab_object_is_live(cachep: KmemCache, objp: int) -> bool:
    """Is objp (an address kmem_cache_alloc returned) handed out and not freed?"""
    return live_index(cachep, objp - cachep.obj_offset) >= 0


def cache_partial_slabs(cachep: KmemCache) -> int:
    return sum(len(l3.slabs_partial) for l3 in cachep.nodelists)


def cache_cpu_objects(cachep: KmemCache) -> int:
    """Objects parked in the per-CPU, shared and alien arrays."""
    alien = sum(a.avail for l3 in cachep.nodelists if l3.alien for a in l3.alien if a is not None)
    return sum(a.avail for a in cachep.array) + cachep.shared_avail() + alien


# -- kmalloc ----------------------------------------------------------------


def kmem_find_general_cachep(s: SlabAllocator, size: int, flags: int) -> KmemCache | None:
    """__find_general_cachep: the cache kmalloc(size, flags) uses (the DMA
    one for GFP_DMA), or None above 128 KiB."""
    if size > KMALLOC_MAX_SIZE:
        return None
    i = SIZE_INDEX[max(size, 0)]
    table = s.malloc_sizes_dma if flags & GFP_DMA else s.malloc_sizes
    if i >= len(table):
        return None
    return table[i]


def kmalloc(s: SlabAllocator, size: int, flags: int) -> int | None:
    """__do_kmalloc: the physical address of at least `size` physically
    contiguous bytes, or None (no message above 128 KiB, as 2.6.18). The
    contents are stale; the flags are checked when the cache must grow."""
    # kmalloc(0) is a size-32 object in 2.6.18 (ZERO_SIZE_PTR came in 2.6.22);
    # a negative size is a huge size_t
    if not isinstance(size, int) or size < 0 or size > KMALLOC_MAX_SIZE:
        return None
    i = SIZE_INDEX[size]
    table = s.malloc_sizes_dma if flags & __GFP_DMA else s.malloc_sizes
    if i >= len(table):
        return None
    cachep = table[i]
    objp = kmem_cache_alloc(s, cachep, flags)
    if objp is not None and s.slow:
        hook = s.trace.hook
        if hook is not None:
            hook("kmalloc", cachep, objp, flags, size)
    return objp


def kzalloc(s: SlabAllocator, size: int, flags: int) -> int | None:
    """mm/util.c __kzalloc: kmalloc, then `size` bytes zeroed."""
    objp = kmalloc(s, size, flags)
    if objp is not None:
        s.mem.zero(objp, size)
    return objp


def kcalloc(s: SlabAllocator, n: int, size: int, flags: int) -> int | None:
    """Zeroed array of n elements; None if n * size overflows an unsigned long
    (include/linux/slab.h: `size > ULONG_MAX / n`, ULONG_MAX of the arch's word)."""
    if n != 0 and size > ((1 << (8 * s.bytes_per_word)) - 1) // n:
        return None
    return kzalloc(s, n * size, flags)


def ksize(s: SlabAllocator, objp: int | None) -> int:
    """mm/slab.c ksize: obj_size(virt_to_cache(objp)) (buffer_size without DEBUG)."""
    if not objp:
        return 0
    slabp = slab_of(s, objp)
    if slabp is None:
        BUG(s, BUG_PAGE_GET_CACHE)
        return 0
    return obj_size(s, _slab_cache(slabp))


def kfree(s: SlabAllocator, objp: int | None) -> None:
    """Free kmalloc'd memory; kfree(None) does nothing. A pointer outside the
    slabs is page_get_cache's BUG, never a crash."""
    if not objp:
        return
    owner = s.mem_map[objp >> s.page_shift] if 0 < objp < s.mem_size else None
    if not isinstance(owner, Slab):
        if s.debug is not None:
            D.kfree_debugcheck_report(s, objp, 0 < objp < s.mem_size)
        else:
            BUG(s, BUG_PAGE_GET_CACHE)
        return
    cachep = _slab_cache(owner)
    if s.slow and s.trace.hook is not None and live_index(cachep, objp) >= 0:
        s.trace.hook("kfree", cachep, objp, 0, None)
    kmem_cache_free(s, cachep, objp)
