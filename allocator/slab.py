"""Lookaside caches after 2.6.18 mm/slab.c (SLAB), kmalloc and kfree included.

A cache owns slabs of 2**gfporder pages on three lists per node (full, partial,
free) and an array of object pointers per CPU. kmem_cache_alloc pops from the
CPU's array; when it is empty, cache_alloc_refill moves a batch from the node's
shared array or its slabs, growing the cache by one slab if there is none.
kmem_cache_free pushes onto the array; a full array flushes a batch back.

Objects are physical addresses. Counting follows SLAB: objects parked in per-CPU
and shared arrays are "active" in slabinfo; `cache.live` holds the objects really
handed out (sysfs `objects`), and is what catches double and foreign frees.

The part is `SlabAllocator` (state only), built on the page allocator it was
given; reclaim of free slabs is a shrinker it registers with vmscan. With
`debug` (CONFIG_DEBUG_SLAB) the slow paths call the checks of slab_debug.py.
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field

from . import slab_debug as D
from .arch import Arch
from .fault_inject import FaultInject, should_failslab
from .gfp import __GFP_DMA, __GFP_HIGHMEM, __GFP_WAIT, __GFP_ZERO, GFP_DMA
from .kmalloc_sizes import KMALLOC_MAX_SIZE, KMALLOC_SIZES, SIZE_INDEX
from .page_alloc import PageAllocator, PageOwner, __free_pages, alloc_pages
from .printk import KERN_EMERG, KERN_ERR, KERN_WARNING, KernelLog
from .sched import Sched, attach_cpu_view
from .slab_flags import (
    CFLGS_OFF_SLAB,
    CREATE_MASK,
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
from .vmscan import Shrinker, Vmscan, register_shrinker
from .vmstat import VmStat, nr_slab_pages

# Besides what it defines, the module re-exports the flags of include/linux/slab.h:
# callers import them from here.
__all__ = [
    "CFLGS_OFF_SLAB",
    "CREATE_MASK",
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

REDZONE_ALIGN = 8           # max(BYTES_PER_WORD, __alignof__(unsigned long long))
SIZEOF_STRUCT_SLAB = 28     # struct slab on i386: list_head, colouroff, s_mem, inuse, free, nodeid
SIZEOF_ARRAY_CACHE = 16     # struct array_cache before its entries: avail, limit, batchcount, touched
MAX_OBJ_ORDER = 5
MAX_GFP_ORDER = 5
MAX_NAME_LEN = 64
BATCHREFILL_LIMIT = 16
REAPTIMEOUT_CPUC = 2.0      # seconds: the reaper's period
REAPTIMEOUT_LIST3 = 4.0     # seconds: how often one node's lists are reaped
SLAB_LIMIT = 0xFFFFFFFF - 3
BAD_ALIEN_MAGIC = 0xBAADF00D  # the shared array's batchcount (never used to refill)
SLABINFO_WRITE_MAX = 128    # MAX_SLABINFO_WRITE
# slab_break_gfp_order: BREAK_GFP_ORDER_HI (1) above 32 MiB of RAM, else LO (0)
BREAK_GFP_ORDER_HI, BREAK_GFP_ORDER_LO = 1, 0
BREAK_GFP_ORDER_MEM = 32 << 20

LIST_FULL, LIST_PARTIAL, LIST_FREE = 0, 1, 2
_SLOW_GFP = __GFP_HIGHMEM | __GFP_ZERO  # masks that leave kmem_cache_alloc's fast path

# ctor(slab allocator, object, cache, SLAB_CTOR_* flags); dtor the same with 0
Ctor = Callable[["SlabAllocator", int, "KmemCache", int], None]


def _align(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


class ArrayCache:
    """struct array_cache: a stack of object pointers (the list's end is the top)."""
    __slots__ = ("batchcount", "entry", "limit", "touched")

    def __init__(self, limit: int, batchcount: int):
        self.entry: list[int] = []
        self.limit = limit
        self.batchcount = batchcount
        self.touched = False


class Slab(PageOwner):
    """struct slab: one block of pages cut into objects; it owns its frames."""
    __slots__ = ("colouroff", "free", "inuse", "list", "mgmt", "node", "s_mem")
    cache: KmemCache

    def __init__(self, cache: KmemCache, node: int):
        self.cache = cache
        self.name = cache.name
        self.node = node
        self.pfn = 0
        self.colouroff = 0
        self.s_mem = 0
        self.inuse = 0
        self.free: list[int] = []  # bufctl free list, set by cache_grow; the end is slabp->free
        self.list = LIST_FREE
        self.mgmt: int | None = None  # off-slab descriptor object

    @property
    def addr(self) -> int:
        return self.pfn << self.cache.page_shift


class KmemList3:
    """struct kmem_list3: a node's slab lists."""
    __slots__ = (
        "colour_next",
        "free_limit",
        "free_objects",
        "free_touched",
        "lists",
        "next_reap",
        "shared",
    )

    def __init__(self) -> None:
        # full, partial, free: insertion-ordered dicts used as lists
        self.lists: tuple[dict[Slab, None], dict[Slab, None], dict[Slab, None]] = ({}, {}, {})
        self.free_objects = 0
        self.free_limit = 0
        self.shared: ArrayCache | None = None
        self.colour_next = 0
        self.free_touched = False
        self.next_reap = 0.0


def _slab_stats() -> dict[str, int]:
    return dict.fromkeys(("allocs", "high", "max_freeable", "node_allocs", "overflows",
                          "allochit", "allocmiss", "freehit", "freemiss"), 0)


@dataclass(eq=False)
class KmemCache:
    name: str
    obj_size: int
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
    live: set[int] = field(default_factory=set)
    kmalloc: bool = False          # a general (size-N) cache
    has_shrinker: bool = False     # its objects are reclaimed by a registered shrinker
    failslab: bool = False         # sysfs `failslab`: eligible when failslab/cache-filter is on
    stats: dict[str, int] = field(default_factory=_slab_stats)  # SLAB's STATS (slow paths)
    grown: int = 0
    reaped: int = 0
    errors: int = 0
    node_frees: int = 0

    def slab_counts(self) -> tuple[int, int, int, int]:
        """(num_slabs, active_slabs, num_objs, active_objs) as get_slabinfo."""
        total = free_slabs = free_objs = 0
        for l3 in self.nodelists:
            full, partial, free = l3.lists
            total += len(full) + len(partial) + len(free)
            free_slabs += len(free)
            free_objs += len(free) * self.num + sum(self.num - s.inuse for s in partial)
        num_objs = total * self.num
        return total, total - free_slabs, num_objs, num_objs - free_objs

    def shared_avail(self) -> int:
        return sum(len(l3.shared.entry) for l3 in self.nodelists if l3.shared)

    def __repr__(self) -> str:
        return f"<KmemCache {self.name} {self.buffer_size}>"


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
        self.cache_chain: list[KmemCache] = []  # newest first, like list_add
        self.malloc_sizes: list[KmemCache] = []
        self.malloc_sizes_dma: list[KmemCache] = []
        self.slab_break_gfp_order = (BREAK_GFP_ORDER_HI if page_alloc.nr_pages > BREAK_GFP_ORDER_MEM >> arch.page_shift
                                     else BREAK_GFP_ORDER_LO)
        self.debug: D.SlabDebug | None = D.SlabDebug() if debug else None
        # set while debugging, fault injection or tracing is on: the fast paths step aside
        self.slow = debug
        self.current = sched.current            # the CpuView sched keeps up to date
        self.free_waiters: Callable[[], None] | None = None
        attach_cpu_view(sched, self)


def slab_bug(s: SlabAllocator, text: str) -> None:
    s.log.printk(KERN_ERR, f"kernel BUG at mm/slab.c: {text}")


# -- boot -------------------------------------------------------------------


def kmem_cache_init(s: SlabAllocator) -> None:
    """The general caches, in size order (newest first in the chain), and
    SLAB's shrinker: direct reclaim gives free slabs back at once."""
    for size in KMALLOC_SIZES:
        normal = kmem_cache_create(s, f"size-{size}", size, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC)
        dma = kmem_cache_create(s, f"size-{size}(DMA)", size, 0,
                                SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_PANIC)
        assert normal is not None and dma is not None
        normal.kmalloc = dma.kmalloc = True
        s.malloc_sizes.append(normal)
        s.malloc_sizes_dma.append(dma)
    register_shrinker(s.vmscan, Shrinker("slab", lambda gfp_mask, drop: shrink_free_slabs(s, drop)))


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


def kmem_cache_create(s: SlabAllocator, name: str, size: int, align: int = 0, flags: int = 0,
                      ctor: Ctor | None = None, dtor: Ctor | None = None) -> KmemCache | None:
    """Create a cache of `size`-byte objects; return it, or None (logged).

    The name must be non-empty, free of white space and unique. Geometry
    (objsize, objects per slab, slab order, on/off-slab management, colour)
    follows 2.6 kmem_cache_create for i386. May sleep."""
    cachep = __kmem_cache_create(s, name, size, align, flags, ctor, dtor)
    if cachep is None and flags & SLAB_PANIC:
        s.log.printk(KERN_EMERG, f"Kernel panic - not syncing: kmem_cache_create(): "
                                 f"failed to create slab `{name}'")
    return cachep


def __kmem_cache_create(s: SlabAllocator, name: str, size: int, align: int, flags: int,
                        ctor: Ctor | None, dtor: Ctor | None) -> KmemCache | None:
    word = s.bytes_per_word
    fail = None
    if not isinstance(name, str) or not name:
        fail = "Early error in slab (no name)"
    elif any(c.isspace() for c in name) or len(name) > MAX_NAME_LEN:
        fail = f"invalid cache name `{name}' (white space or longer than {MAX_NAME_LEN})"
    elif size < word or size > (1 << MAX_OBJ_ORDER) * s.page_size:
        fail = f"Early error in slab {name} (size {size})"
    elif dtor and not ctor:
        fail = f"Early error in slab {name} (destructor without constructor)"
    elif align < 0 or (align & (align - 1)):
        fail = f"Early error in slab {name} (align {align} is not a power of two)"
    elif flags & ~CREATE_MASK:
        fail = f"Early error in slab {name} (unknown flags {flags & ~CREATE_MASK:#x})"
    elif any(c.name == name for c in s.cache_chain):
        fail = f"duplicate cache {name}"
    if fail:
        s.log.printk(KERN_ERR, f"kmem_cache_create: {fail}")
        return None

    obj_size = size
    if s.debug is not None:
        flags = D.forced_debug_flags(size, flags, word)
    if size & (word - 1):
        size = _align(size, word)
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = s.cache_line
        while size <= ralign // 2:
            ralign //= 2
    else:
        ralign = word
    # red zones and the last-user word need only word (red zone: 8-byte)
    # alignment; they override the cache-line preference
    if flags & SLAB_STORE_USER:
        ralign = word
    if flags & SLAB_RED_ZONE:
        ralign = REDZONE_ALIGN
        size = _align(size, REDZONE_ALIGN)
    ralign = max(ralign, align)
    if ralign > REDZONE_ALIGN:
        flags &= ~(SLAB_RED_ZONE | SLAB_STORE_USER)
    align = ralign
    obj_offset = 0
    if flags & SLAB_RED_ZONE:
        obj_offset += REDZONE_ALIGN
        size += 2 * REDZONE_ALIGN
    if flags & SLAB_STORE_USER:
        size += REDZONE_ALIGN if flags & SLAB_RED_ZONE else word
    if size >= (s.page_size >> 3):
        flags |= CFLGS_OFF_SLAB
    size = _align(size, align)
    gfporder, num, left_over = calculate_slab_order(s, size, align, flags)
    if not num:
        s.log.printk(KERN_ERR, f"kmem_cache_create: couldn't create cache {name}.")
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
                       page_shift=s.page_shift, obj_offset=obj_offset, ctor=ctor, dtor=dtor)
    if flags & CFLGS_OFF_SLAB:
        cachep.slabp_cache = kmem_find_general_cachep(s, slab_size, 0)
    cachep.nodelists = [KmemList3() for _ in range(s.nr_nodes)]
    enable_cpucache(s, cachep)
    s.cache_chain.insert(0, cachep)
    return cachep


def enable_cpucache(s: SlabAllocator, cachep: KmemCache) -> None:
    """Default tunables by object size (mm/slab.c enable_cpucache)."""
    size = cachep.buffer_size
    if size > KMALLOC_MAX_SIZE:
        limit = 1
    elif size > s.page_size:
        limit = 8
    elif size > 1024:
        limit = 24
    elif size > 256:
        limit = 54
    else:
        limit = 120
    shared = 8 if size <= s.page_size and s.sched.nr_cpus > 1 else 0
    if s.debug is not None and limit > 32:
        limit = 32
    do_tune_cpucache(s, cachep, limit, (limit + 1) // 2, shared)


def do_tune_cpucache(s: SlabAllocator, cachep: KmemCache, limit: int, batchcount: int, shared: int) -> None:
    """Replace the per-CPU and shared arrays; objects in the old ones go back
    to their slabs."""
    old = cachep.array
    cachep.array = [ArrayCache(limit, batchcount) for _ in range(s.sched.nr_cpus)]
    for ac in old:
        if ac.entry:
            free_block(s, cachep, ac.entry)
            ac.entry = []
    cachep.limit, cachep.batchcount, cachep.shared = limit, batchcount, shared
    nodes = s.page_alloc.nodes
    for nid, l3 in enumerate(cachep.nodelists):
        if l3.shared and l3.shared.entry:
            free_block(s, cachep, l3.shared.entry)
        l3.shared = ArrayCache(shared * batchcount, BAD_ALIEN_MAGIC) if shared else None
        l3.free_limit = (1 + len(nodes[nid].cpus)) * batchcount + cachep.num


def kmem_cache_destroy(s: SlabAllocator, cachep: KmemCache) -> bool:
    """Destroy an empty cache. With objects still allocated it logs
    "Can't free all objects", keeps the cache and returns False."""
    if cachep not in s.cache_chain:
        slab_bug(s, f"kmem_cache_destroy: no such cache {cachep.name}")
        return False
    s.cache_chain.remove(cachep)
    if __cache_shrink(s, cachep):
        s.log.printk(KERN_ERR, f"slab error in kmem_cache_destroy(): cache `{cachep.name}':"
                               f" Can't free all objects")
        s.cache_chain.insert(0, cachep)
        return False
    return True


def find_cache(s: SlabAllocator, name: str) -> KmemCache | None:
    for c in s.cache_chain:
        if c.name == name:
            return c
    return None


# -- alloc ------------------------------------------------------------------


def kmem_cache_alloc(s: SlabAllocator, cachep: KmemCache, flags: int) -> int | None:
    """Return an object's physical address, or None. Not zeroed unless
    __GFP_ZERO. May sleep only as flags allow (see alloc_pages)."""
    if flags & _SLOW_GFP or s.slow:
        return __cache_alloc(s, cachep, flags)
    cpu = s.current.cpu
    ac = cachep.array[cpu]
    entry = ac.entry
    if entry:
        ac.touched = True
        objp = entry.pop()
    else:
        got = cache_alloc_refill(s, cachep, flags, cpu)
        if got is None:
            return None
        objp = got
    cachep.live.add(objp)
    return objp


def __cache_alloc(s: SlabAllocator, cachep: KmemCache, flags: int) -> int | None:
    """kmem_cache_alloc with __GFP_HIGHMEM, __GFP_ZERO, debugging, failslab or tracing."""
    cpu = s.current.cpu
    debug = s.debug
    if debug is not None:
        D.cache_alloc_debugcheck_before(cachep, cpu)
    if flags & __GFP_HIGHMEM:
        slab_bug(s, f"cache_grow: cache `{cachep.name}': __GFP_HIGHMEM allocations cannot"
                    f" come from the slab (no kernel mapping)")
        return None
    if s.faults.failslab_armed and should_failslab(s.faults, cachep.obj_size, cachep.failslab, flags):
        return None
    objp = ____cache_alloc(s, cachep, flags, cpu)
    if objp is None:
        return None
    cachep.live.add(objp)
    hook = s.trace.hook
    if hook is not None:
        hook("kmem_cache_alloc", cachep, objp, flags, None)
    if debug is not None:
        return D.cache_alloc_debugcheck_after(s, cachep, objp, flags)
    if flags & __GFP_ZERO:
        s.mem.zero(objp, cachep.obj_size)
    return objp


def ____cache_alloc(s: SlabAllocator, cachep: KmemCache, flags: int, cpu: int) -> int | None:
    """An object from the CPU's array, refilled if it is empty."""
    ac = cachep.array[cpu]
    if ac.entry:
        ac.touched = True
        return ac.entry.pop()
    return cache_alloc_refill(s, cachep, flags, cpu)


def cache_alloc_refill(s: SlabAllocator, cachep: KmemCache, flags: int, cpu: int) -> int | None:
    node = s.cpu_node[cpu]
    while True:
        ac = cachep.array[cpu]
        l3 = cachep.nodelists[node]
        batchcount = ac.batchcount
        if not ac.touched and batchcount > BATCHREFILL_LIMIT:
            batchcount = BATCHREFILL_LIMIT
        shared = l3.shared
        if shared and shared.entry:
            n = min(batchcount, len(shared.entry))
            ac.entry.extend(shared.entry[-n:])
            del shared.entry[-n:]
            shared.touched = True
        else:
            full, partial, free = l3.lists
            num = cachep.num
            entry = ac.entry
            while batchcount > 0:
                if partial:
                    slabp = next(iter(partial))
                    del partial[slabp]
                else:
                    l3.free_touched = True
                    if not free:
                        break
                    slabp = next(iter(free))
                    del free[slabp]
                take = min(batchcount, num - slabp.inuse)
                objs = slabp.free
                entry.extend(reversed(objs[-take:]))
                del objs[-take:]
                slabp.inuse += take
                batchcount -= take
                if slabp.inuse == num:
                    slabp.list = LIST_FULL
                    slabp.free = []  # a full slab keeps no list (memory per quantum)
                    full[slabp] = None
                else:
                    slabp.list = LIST_PARTIAL
                    partial[slabp] = None
            l3.free_objects -= len(ac.entry)
        if not ac.entry:
            grown = cache_grow(s, cachep, flags, node)
            ac = cachep.array[cpu]
            if not grown and not ac.entry:
                return None
            if not ac.entry:
                continue
        ac.touched = True
        return ac.entry.pop()


def cache_grow(s: SlabAllocator, cachep: KmemCache, flags: int, nodeid: int) -> bool:
    """Add one slab to the node's free list. Returns False if no pages."""
    l3 = cachep.nodelists[nodeid]
    offset = l3.colour_next
    l3.colour_next += 1
    if l3.colour_next >= cachep.colour:
        l3.colour_next = 0
    offset *= cachep.colour_off
    local_flags = flags & ~(__GFP_ZERO | __GFP_DMA | __GFP_HIGHMEM)
    slabp = Slab(cachep, nodeid)
    pfn = alloc_pages(s.page_alloc, local_flags | cachep.gfpflags, cachep.gfporder, nodeid, slabp)
    if pfn is None:
        return False
    slabp.pfn = pfn
    addr = pfn << s.page_shift
    if cachep.flags & CFLGS_OFF_SLAB:
        assert cachep.slabp_cache is not None
        mgmt = kmem_cache_alloc(s, cachep.slabp_cache, local_flags)
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
    # the bufctl free list, last object first: slab_get_obj takes index 0 first
    objs = list(range(s_mem + (cachep.num - 1) * size, s_mem - 1, -size))
    if cachep.ctor:
        ctor_flags = SLAB_CTOR_CONSTRUCTOR | (0 if flags & __GFP_WAIT else SLAB_CTOR_ATOMIC)
        for objp in reversed(objs):
            cachep.ctor(s, objp + cachep.obj_offset, cachep, ctor_flags)
    if cachep.flags & SLAB_DEBUG_FLAGS:
        D.cache_init_objs_debug(s, cachep, objs[::-1])
    slabp.free = objs
    l3.lists[LIST_FREE][slabp] = None
    l3.free_objects += cachep.num
    cachep.grown += 1
    if cachep.flags & SLAB_RECLAIM_ACCOUNT:
        s.vmstat.nr_slab_reclaimable += 1 << cachep.gfporder
    else:
        s.vmstat.nr_slab_unreclaimable += 1 << cachep.gfporder
    return True


def slab_destroy(s: SlabAllocator, cachep: KmemCache, slabp: Slab) -> None:
    """Run the destructor over every object and give the pages back."""
    if cachep.flags & (SLAB_POISON | SLAB_RED_ZONE):
        D.slab_destroy_objs_debug(s, cachep, slabp)
    if cachep.dtor:
        for i in range(cachep.num):
            cachep.dtor(s, slabp.s_mem + i * cachep.buffer_size + cachep.obj_offset, cachep, 0)
    if cachep.flags & SLAB_RECLAIM_ACCOUNT:
        s.vmstat.nr_slab_reclaimable -= 1 << cachep.gfporder
    else:
        s.vmstat.nr_slab_unreclaimable -= 1 << cachep.gfporder
    __free_pages(s.page_alloc, slabp.pfn, cachep.gfporder, slab_pages=True)
    if slabp.mgmt is not None:
        assert cachep.slabp_cache is not None
        kmem_cache_free(s, cachep.slabp_cache, slabp.mgmt)


# -- free -------------------------------------------------------------------


def kmem_cache_free(s: SlabAllocator, cachep: KmemCache, objp: int) -> None:
    """Give an object back to its cache. An object that is not allocated from
    this cache is a logged BUG and nothing changes."""
    if s.slow:
        return __cache_free(s, cachep, objp)
    try:
        cachep.live.remove(objp)
    except KeyError:
        return bad_free(s, cachep, objp)
    cpu = s.current.cpu
    if s.numa:
        owner = s.mem_map[objp >> s.page_shift]
        if isinstance(owner, Slab) and owner.node != s.cpu_node[cpu]:
            cachep.node_frees += 1
            free_block(s, cachep, [objp])
            return
    ac = cachep.array[cpu]
    entry = ac.entry
    if len(entry) >= ac.limit:
        cache_flusharray(s, cachep, ac, s.cpu_node[cpu])
    entry.append(objp)
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
    try:
        cachep.live.remove(objp)
    except KeyError:
        return bad_free(s, cachep, objp)
    hook = s.trace.hook
    if hook is not None:
        hook("kmem_cache_free", cachep, objp, 0, None)
    ____cache_free(s, cachep, objp)


def ____cache_free(s: SlabAllocator, cachep: KmemCache, objp: int) -> None:
    """Push a freed object onto the CPU's array (a remote node's object goes
    straight back to its slab)."""
    cpu = s.current.cpu
    if s.numa:
        owner = s.mem_map[objp >> s.page_shift]
        if isinstance(owner, Slab) and owner.node != s.cpu_node[cpu]:
            cachep.node_frees += 1
            free_block(s, cachep, [objp])
            return
    ac = cachep.array[cpu]
    if len(ac.entry) >= ac.limit:
        cache_flusharray(s, cachep, ac, s.cpu_node[cpu])
    ac.entry.append(objp)
    waiters = s.free_waiters
    if waiters is not None:
        waiters()


def bad_free(s: SlabAllocator, cachep: KmemCache | None, objp: int) -> None:
    owner = s.mem_map[objp >> s.page_shift] if 0 <= objp < s.mem_size else None
    name = cachep.name if cachep else "?"
    if cachep:
        cachep.errors += 1
    if isinstance(owner, Slab):
        if owner.cache is not cachep and cachep is not None:
            s.log.printk(KERN_ERR, f"mismatch in kmem_cache_free: expected cache {name},"
                                   f" got {owner.cache.name} (object {objp:#x})")
        elif (objp - owner.s_mem) % owner.cache.buffer_size or objp < owner.s_mem:
            slab_bug(s, f"kfree({objp:#x}): not the start of an object of cache `{owner.cache.name}'")
        else:
            s.log.printk(KERN_ERR, f"slab error in cache_free_debugcheck(): cache `{owner.cache.name}':"
                                   f" double free of object {objp:#x}")
    else:
        slab_bug(s, f"kmem_cache_free({name}, {objp:#x}): pointer is not a slab object")


def cache_flusharray(s: SlabAllocator, cachep: KmemCache, ac: ArrayCache, node: int) -> None:
    batchcount = ac.batchcount
    shared = cachep.nodelists[node].shared
    if shared:
        room = shared.limit - len(shared.entry)
        if room:
            batchcount = min(batchcount, room)
            shared.entry.extend(ac.entry[:batchcount])
            del ac.entry[:batchcount]
            return
    free_block(s, cachep, ac.entry[:batchcount])
    del ac.entry[:batchcount]


def free_block(s: SlabAllocator, cachep: KmemCache, objs: list[int]) -> None:
    """Return objects to their slabs; an empty slab above free_limit is destroyed."""
    mem_map = s.mem_map
    shift = s.page_shift
    num = cachep.num
    for objp in objs:
        slabp = mem_map[objp >> shift]
        assert isinstance(slabp, Slab)
        l3 = cachep.nodelists[slabp.node]
        _full, partial, free = l3.lists
        del l3.lists[slabp.list][slabp]
        if slabp.list == LIST_FULL:
            slabp.free = [objp]
        else:
            slabp.free.append(objp)
        slabp.inuse -= 1
        l3.free_objects += 1
        if slabp.inuse == 0:
            if l3.free_objects > l3.free_limit:
                l3.free_objects -= num
                slab_destroy(s, cachep, slabp)
            else:
                slabp.list = LIST_FREE
                free[slabp] = None
        else:
            slabp.list = LIST_PARTIAL
            partial[slabp] = None


# -- shrinking and reaping --------------------------------------------------


def drain_cpu_caches(s: SlabAllocator, cachep: KmemCache) -> None:
    for ac in cachep.array:
        if ac.entry:
            free_block(s, cachep, ac.entry)
            ac.entry = []
    for l3 in cachep.nodelists:
        if l3.shared and l3.shared.entry:
            free_block(s, cachep, l3.shared.entry)
            l3.shared.entry = []


def drain_freelist(s: SlabAllocator, cachep: KmemCache, l3: KmemList3, tofree: int) -> int:
    free = l3.lists[LIST_FREE]
    n = 0
    while free and n < tofree:
        slabp = next(reversed(free))  # the list's tail
        del free[slabp]
        l3.free_objects -= cachep.num
        slab_destroy(s, cachep, slabp)
        n += 1
    return n


def __cache_shrink(s: SlabAllocator, cachep: KmemCache) -> bool:
    """Drain the arrays and free every free slab. True if objects remain."""
    drain_cpu_caches(s, cachep)
    busy = False
    for l3 in cachep.nodelists:
        drain_freelist(s, cachep, l3, len(l3.lists[LIST_FREE]))
        busy = busy or bool(l3.lists[LIST_FULL] or l3.lists[LIST_PARTIAL])
    return busy


def kmem_cache_shrink(s: SlabAllocator, cachep: KmemCache) -> int:
    """Drain per-CPU arrays and release free slabs; 1 if objects remain, else 0."""
    return int(__cache_shrink(s, cachep))


def shrink_free_slabs(s: SlabAllocator, drop: bool) -> int:
    """SLAB's shrinker: shrink every cache that no other shrinker owns
    (SLAB_NO_REAP caches only for drop_caches). Returns slab pages freed."""
    before = nr_slab_pages(s.vmstat)
    for cachep in list(s.cache_chain):
        if cachep.has_shrinker or (cachep.flags & SLAB_NO_REAP and not drop):
            continue
        __cache_shrink(s, cachep)
    return before - nr_slab_pages(s.vmstat)


def drain_array(s: SlabAllocator, cachep: KmemCache, ac: ArrayCache | None, force: bool) -> None:
    if not ac or not ac.entry:
        return
    if ac.touched and not force:
        ac.touched = False
        return
    tofree = len(ac.entry) if force else (ac.limit + 4) // 5
    if tofree > len(ac.entry):
        tofree = (len(ac.entry) + 1) // 2
    free_block(s, cachep, ac.entry[:tofree])
    del ac.entry[:tofree]


def cache_reap(s: SlabAllocator) -> None:
    """The periodic reaper (every REAPTIMEOUT_CPUC): trim per-CPU arrays that
    were not touched since the last pass, and free some free slabs."""
    now = s.log.uptime()
    for cachep in list(s.cache_chain):
        if cachep.flags & SLAB_NO_REAP:
            continue
        for ac in cachep.array:
            drain_array(s, cachep, ac, False)
        for l3 in cachep.nodelists:
            if l3.next_reap > now:
                continue
            l3.next_reap = now + REAPTIMEOUT_LIST3
            if l3.shared:
                drain_array(s, cachep, l3.shared, False)
            if l3.free_touched:
                l3.free_touched = False
                continue
            n = drain_freelist(s, cachep, l3, (l3.free_limit + 5 * cachep.num - 1) // (5 * cachep.num))
            cachep.reaped += n


# -- the slabinfo write interface -------------------------------------------


def slabinfo_write(s: SlabAllocator, data: bytes) -> int:
    """mm/slab.c slabinfo_write: `name limit batchcount shared`. Returns 0 or
    an errno (EINVAL, ENOMEM). Out-of-range values for a known cache are ignored."""
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
    # do_tune_cpucache kmallocs the new arrays (struct array_cache plus a
    # pointer per entry): past the largest general cache, ENOMEM
    if SIZEOF_ARRAY_CACHE + s.bytes_per_word * max(limit, shared * batchcount) > KMALLOC_MAX_SIZE:
        return errno.ENOMEM
    do_tune_cpucache(s, cachep, limit, batchcount, shared)
    return 0


# -- queries ----------------------------------------------------------------


def slab_of(s: SlabAllocator, addr: int) -> Slab | None:
    """The slab whose pages hold physical address addr, or None."""
    owner = s.mem_map[addr >> s.page_shift] if 0 <= addr < s.mem_size else None
    return owner if isinstance(owner, Slab) else None


def slab_object_is_live(cachep: KmemCache, objp: int) -> bool:
    """Is objp (an address kmem_cache_alloc returned) handed out and not freed?"""
    return objp - cachep.obj_offset in cachep.live


def cache_partial_slabs(cachep: KmemCache) -> int:
    return sum(len(l3.lists[LIST_PARTIAL]) for l3 in cachep.nodelists)


def cache_cpu_objects(cachep: KmemCache) -> int:
    """Objects parked in the per-CPU and shared arrays."""
    return sum(len(a.entry) for a in cachep.array) + cachep.shared_avail()


# -- kmalloc ----------------------------------------------------------------


def kmem_find_general_cachep(s: SlabAllocator, size: int, flags: int) -> KmemCache | None:
    """__find_general_cachep: the cache kmalloc(size, flags) uses, or None.
    (During kmem_cache_init off-slab caches may ask before all exist.)"""
    if size > KMALLOC_MAX_SIZE:
        return None
    i = SIZE_INDEX[max(size, 0)]
    table = s.malloc_sizes_dma if flags & __GFP_DMA else s.malloc_sizes
    if i >= len(table):
        return None
    return table[i]


def kmalloc(s: SlabAllocator, size: int, flags: int) -> int | None:
    """Return the physical address of at least `size` physically contiguous
    bytes, or None. Contents are stale unless __GFP_ZERO. __GFP_HIGHMEM and
    sizes above 128 KiB are refused with a log line."""
    # kmalloc(0) is a size-32 object in 2.6.18 (ZERO_SIZE_PTR came in 2.6.22)
    try:
        i: int | None = SIZE_INDEX[size]
    except (IndexError, TypeError):
        i = None
    if i is None or size < 0:
        s.log.printk(KERN_WARNING, f"{s.current.comm}: kmalloc({size}) is larger than"
                                   f" the largest general cache (size-{KMALLOC_MAX_SIZE})")
        return None
    cachep = (s.malloc_sizes_dma if flags & __GFP_DMA else s.malloc_sizes)[i]
    objp = kmem_cache_alloc(s, cachep, flags)
    if objp is not None and s.slow:
        hook = s.trace.hook
        if hook is not None:
            hook("kmalloc", cachep, objp, flags, size)
    return objp


def kzalloc(s: SlabAllocator, size: int, flags: int) -> int | None:
    return kmalloc(s, size, flags | __GFP_ZERO)


def kcalloc(s: SlabAllocator, n: int, size: int, flags: int) -> int | None:
    """Zeroed array of n elements; None if n * size overflows an unsigned long
    (include/linux/slab.h: `size > ULONG_MAX / n`, ULONG_MAX of the arch's word)."""
    if n != 0 and size > ((1 << (8 * s.bytes_per_word)) - 1) // n:
        return None
    return kzalloc(s, n * size, flags)


def ksize(s: SlabAllocator, objp: int | None) -> int:
    """The usable size of a kmalloc'd object (its cache's object size)."""
    if not objp:
        return 0
    slabp = slab_of(s, objp)
    if slabp is None:
        slab_bug(s, f"ksize({objp:#x}): not a slab object")
        return 0
    return slabp.cache.obj_size


def kfree(s: SlabAllocator, objp: int | None) -> None:
    """Free kmalloc'd memory; kfree(None) does nothing. A pointer that is not
    a live slab object is a logged BUG, never a crash."""
    if not objp:
        return
    owner = s.mem_map[objp >> s.page_shift] if 0 < objp < s.mem_size else None
    if not isinstance(owner, Slab):
        slab_bug(s, f"kfree({objp:#x}): pointer is not from kmalloc")
        return
    cachep = owner.cache
    if s.slow and s.trace.hook is not None and objp in cachep.live:
        s.trace.hook("kfree", cachep, objp, 0, None)
    kmem_cache_free(s, cachep, objp)
