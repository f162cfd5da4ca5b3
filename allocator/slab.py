"""Lookaside caches after 2.6 mm/slab.c (SLAB, i386 geometry).

A cache owns slabs of 2**gfporder pages on three lists per node (full, partial,
free) and an array of object pointers per CPU. kmem_cache_alloc pops from the
CPU's array; when it is empty, cache_alloc_refill moves a batch from the node's
shared array or its slabs, growing the cache by one slab if there is none.
kmem_cache_free pushes onto the array; a full array flushes a batch back.

Objects are physical addresses. Counting follows SLAB: objects parked in per-CPU
and shared arrays are "active" in slabinfo; `cache.live` holds the objects really
handed out (sysfs `objects`), and is what catches double and foreign frees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from . import gfp as G
from .gfp import F
from .physmem import PAGE_SHIFT, PAGE_SIZE
from .faults import should_failslab
from .printk import KERN_EMERG, KERN_ERR

# include/linux/slab.h (2.6; SLAB_NO_REAP as in 2.6.11)
SLAB_DEBUG_FREE = 0x00000100
SLAB_DEBUG_INITIAL = 0x00000200
SLAB_RED_ZONE = 0x00000400
SLAB_POISON = 0x00000800
SLAB_NO_REAP = 0x00001000
SLAB_HWCACHE_ALIGN = 0x00002000
SLAB_CACHE_DMA = 0x00004000
SLAB_MUST_HWCACHE_ALIGN = 0x00008000
SLAB_STORE_USER = 0x00010000
SLAB_RECLAIM_ACCOUNT = 0x00020000
SLAB_PANIC = 0x00040000
SLAB_DESTROY_BY_RCU = 0x00080000
SLAB_MEM_SPREAD = 0x00100000
CFLGS_OFF_SLAB = 0x80000000
CREATE_MASK = (SLAB_DEBUG_FREE | SLAB_DEBUG_INITIAL | SLAB_RED_ZONE | SLAB_POISON
               | SLAB_NO_REAP | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_MUST_HWCACHE_ALIGN
               | SLAB_STORE_USER | SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_DESTROY_BY_RCU
               | SLAB_MEM_SPREAD)
SLAB_FLAG_NAMES = {
    "SLAB_DEBUG_FREE": SLAB_DEBUG_FREE, "SLAB_DEBUG_INITIAL": SLAB_DEBUG_INITIAL,
    "SLAB_RED_ZONE": SLAB_RED_ZONE, "SLAB_POISON": SLAB_POISON, "SLAB_NO_REAP": SLAB_NO_REAP,
    "SLAB_HWCACHE_ALIGN": SLAB_HWCACHE_ALIGN, "SLAB_CACHE_DMA": SLAB_CACHE_DMA,
    "SLAB_MUST_HWCACHE_ALIGN": SLAB_MUST_HWCACHE_ALIGN, "SLAB_STORE_USER": SLAB_STORE_USER,
    "SLAB_RECLAIM_ACCOUNT": SLAB_RECLAIM_ACCOUNT, "SLAB_PANIC": SLAB_PANIC,
    "SLAB_DESTROY_BY_RCU": SLAB_DESTROY_BY_RCU, "SLAB_MEM_SPREAD": SLAB_MEM_SPREAD,
}

# constructor flags
SLAB_CTOR_CONSTRUCTOR = 0x001
SLAB_CTOR_ATOMIC = 0x002
SLAB_CTOR_VERIFY = 0x004

BYTES_PER_WORD = 4          # i386
REDZONE_ALIGN = 8           # max(BYTES_PER_WORD, __alignof__(unsigned long long))
SIZEOF_BUFCTL = 4           # kmem_bufctl_t is an unsigned int
SIZEOF_STRUCT_SLAB = 28     # struct slab on i386: list_head, colouroff, s_mem, inuse, free, nodeid
CACHE_LINE = 64             # cache_line_size(), L1_CACHE_BYTES
MAX_OBJ_ORDER = 5
MAX_GFP_ORDER = 5
BATCHREFILL_LIMIT = 16
REAPTIMEOUT_CPUC = 2.0      # seconds: the reaper's period
REAPTIMEOUT_LIST3 = 4.0     # seconds: how often one node's lists are reaped
SLAB_LIMIT = 0xFFFFFFFF - 3
# slab_break_gfp_order: BREAK_GFP_ORDER_HI (1) above 32 MiB of RAM, else LO (0)
BREAK_GFP_ORDER_HI, BREAK_GFP_ORDER_LO = 1, 0

LIST_FULL, LIST_PARTIAL, LIST_FREE = 0, 1, 2
_SLOW_GFP = F.HIGHMEM | F.ZERO  # masks that leave kmem_cache_alloc's fast path


def slab_flags_parse(text: str) -> int:
    """Parse `SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA` or a number."""
    flags = 0
    for token in text.split("|"):
        token = token.strip()
        if not token:
            continue
        if token in SLAB_FLAG_NAMES:
            flags |= SLAB_FLAG_NAMES[token]
            continue
        try:
            flags |= int(token, 0)
        except ValueError:
            raise ValueError(f"unknown slab flag {token!r}") from None
    return flags


def slab_flags_format(flags: int) -> str:
    names = [n for n, v in SLAB_FLAG_NAMES.items() if flags & v]
    return "|".join(names) if names else "0"


def _align(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def cache_estimate(gfporder: int, buffer_size: int, align: int, flags: int) -> tuple[int, int]:
    """(num, left_over) for a slab of 2**gfporder pages (mm/slab.c cache_estimate)."""
    slab_size = PAGE_SIZE << gfporder
    if flags & CFLGS_OFF_SLAB:
        mgmt_size = 0
        nr_objs = min(slab_size // buffer_size, SLAB_LIMIT)
    else:
        nr_objs = (slab_size - SIZEOF_STRUCT_SLAB) // (buffer_size + SIZEOF_BUFCTL)
        if _align(SIZEOF_STRUCT_SLAB + nr_objs * SIZEOF_BUFCTL, align) + nr_objs * buffer_size > slab_size:
            nr_objs -= 1
        nr_objs = min(nr_objs, SLAB_LIMIT)
        mgmt_size = _align(SIZEOF_STRUCT_SLAB + nr_objs * SIZEOF_BUFCTL, align)
    return nr_objs, slab_size - nr_objs * buffer_size - mgmt_size


def calculate_slab_order(size: int, align: int, flags: int, break_order: int) -> tuple[int, int, int]:
    """(gfporder, num, left_over): the smallest order whose waste is at most 1/8."""
    num = gfporder = left_over = 0
    for order in range(MAX_GFP_ORDER + 1):
        n, remainder = cache_estimate(order, size, align, flags)
        if not n:
            continue
        if flags & CFLGS_OFF_SLAB:
            # cache_grow() must not loop: limit objects of off-slab caches
            offslab_limit = (size - SIZEOF_STRUCT_SLAB) // SIZEOF_BUFCTL
            if n > offslab_limit:
                break
        num, gfporder, left_over = n, order, remainder
        if flags & SLAB_RECLAIM_ACCOUNT:
            break
        if order >= break_order:
            break
        if left_over * 8 <= (PAGE_SIZE << order):
            break
    return gfporder, num, left_over


class ArrayCache:
    """struct array_cache: a stack of object pointers (the list's end is the top)."""
    __slots__ = ("entry", "limit", "batchcount", "touched")

    def __init__(self, limit: int, batchcount: int):
        self.entry: list[int] = []
        self.limit = limit
        self.batchcount = batchcount
        self.touched = False


class Slab:
    """struct slab: one block of pages cut into objects."""
    __slots__ = ("cache", "pfn", "node", "colouroff", "s_mem", "inuse", "free", "list", "mgmt")

    def __init__(self, cache: "KmemCache", node: int):
        self.cache = cache
        self.node = node
        self.pfn = 0
        self.colouroff = 0
        self.s_mem = 0
        self.inuse = 0
        self.free: list[int] = None  # bufctl free list, set by cache_grow; the end is slabp->free
        self.list = LIST_FREE
        self.mgmt: Optional[int] = None  # off-slab descriptor object

    @property
    def addr(self) -> int:
        return self.pfn << PAGE_SHIFT


class KmemList3:
    """struct kmem_list3: a node's slab lists."""
    __slots__ = ("lists", "free_objects", "free_limit", "shared", "colour_next",
                 "free_touched", "next_reap")

    def __init__(self):
        # full, partial, free: insertion-ordered dicts used as lists
        self.lists: tuple[dict, dict, dict] = ({}, {}, {})
        self.free_objects = 0
        self.free_limit = 0
        self.shared: Optional[ArrayCache] = None
        self.colour_next = 0
        self.free_touched = False
        self.next_reap = 0.0


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
    obj_offset: int = 0
    slabp_cache: Optional["KmemCache"] = None
    ctor: Optional[Callable] = None
    dtor: Optional[Callable] = None
    limit: int = 0
    batchcount: int = 0
    shared: int = 0
    array: list = field(default_factory=list)      # [cpu] -> ArrayCache
    nodelists: list = field(default_factory=list)  # [node] -> KmemList3
    live: set = field(default_factory=set)
    kmalloc: bool = False          # a general (size-N) cache
    reclaim: str = ""              # "fs"/"io" if only reclaimable with __GFP_FS/__GFP_IO
    shrinker: Optional[Callable] = None  # frees objects under reclaim (dcache-like caches)
    failslab: bool = False         # sysfs `failslab`: eligible when failslab/cache-filter is on
    stats: dict = field(default_factory=lambda: dict.fromkeys(
        ("allocs", "high", "max_freeable", "node_allocs", "overflows",
         "allochit", "allocmiss", "freehit", "freemiss"), 0))
    # statistics (SLAB's STATS, kept on slow paths only)
    grown: int = 0
    reaped: int = 0
    errors: int = 0
    high_mark: int = 0
    node_frees: int = 0

    @property
    def pages_per_slab(self) -> int:
        return 1 << self.gfporder

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


class SlabMixin:
    """The slab half of Kernel."""

    def _slab_init(self, cpus: int) -> None:
        self.cache_chain: list[KmemCache] = []  # newest first, like list_add
        self.slab_break_gfp_order = (BREAK_GFP_ORDER_HI if self.nr_pages > (32 << 20) >> PAGE_SHIFT
                                     else BREAK_GFP_ORDER_LO)
        self.nr_slab_pages_reclaimable = 0
        self.nr_slab_pages_unreclaimable = 0

    def nr_slab_pages(self) -> int:
        return self.nr_slab_pages_reclaimable + self.nr_slab_pages_unreclaimable

    def _slab_bug(self, text: str) -> None:
        self.log.printk(KERN_ERR, f"kernel BUG at mm/slab.c: {text}")

    # -- create / destroy ---------------------------------------------------

    def kmem_cache_create(self, name: str, size: int, align: int = 0, flags: int = 0,
                          ctor: Optional[Callable] = None, dtor: Optional[Callable] = None):
        """Create a cache of `size`-byte objects; return it, or None (logged).

        The name must be non-empty, free of white space and unique. Geometry
        (objsize, objects per slab, slab order, on/off-slab management, colour)
        follows 2.6 kmem_cache_create for i386. May sleep."""
        cachep = self._kmem_cache_create(name, size, align, flags, ctor, dtor)
        if cachep is None and flags & SLAB_PANIC:
            self.log.printk(KERN_EMERG, f"Kernel panic - not syncing: kmem_cache_create(): "
                                        f"failed to create slab `{name}'")
        return cachep

    def _kmem_cache_create(self, name, size, align, flags, ctor, dtor):
        fail = None
        if not isinstance(name, str) or not name:
            fail = "Early error in slab (no name)"
        elif any(c.isspace() for c in name) or len(name) > 64:
            fail = f"invalid cache name `{name}' (white space or longer than 64)"
        elif size < BYTES_PER_WORD or size > (1 << MAX_OBJ_ORDER) * PAGE_SIZE:
            fail = f"Early error in slab {name} (size {size})"
        elif dtor and not ctor:
            fail = f"Early error in slab {name} (destructor without constructor)"
        elif align < 0 or (align & (align - 1)):
            fail = f"Early error in slab {name} (align {align} is not a power of two)"
        elif flags & ~CREATE_MASK:
            fail = f"Early error in slab {name} (unknown flags {flags & ~CREATE_MASK:#x})"
        elif any(c.name == name for c in self.cache_chain):
            fail = f"duplicate cache {name}"
        if fail:
            self.log.printk(KERN_ERR, f"kmem_cache_create: {fail}")
            return None

        obj_size = size
        if self.slab_debug:
            # FORCED_DEBUG: red zone and last user unless that would push the
            # object past the next power of two; poison unless RCU-freed
            if size < 4096 or (size - 1).bit_length() == (size - 1 + 3 * BYTES_PER_WORD).bit_length():
                flags |= SLAB_RED_ZONE | SLAB_STORE_USER
            if not flags & SLAB_DESTROY_BY_RCU:
                flags |= SLAB_POISON
        if size & (BYTES_PER_WORD - 1):
            size = _align(size, BYTES_PER_WORD)
        if flags & SLAB_HWCACHE_ALIGN:
            ralign = CACHE_LINE
            while size <= ralign // 2:
                ralign //= 2
        else:
            ralign = BYTES_PER_WORD
        # red zones and the last-user word need only word (red zone: 8-byte)
        # alignment; they override the cache-line preference
        if flags & SLAB_STORE_USER:
            ralign = BYTES_PER_WORD
        if flags & SLAB_RED_ZONE:
            ralign = REDZONE_ALIGN
            size = _align(size, REDZONE_ALIGN)
        if ralign < align:
            ralign = align
        if ralign > REDZONE_ALIGN:
            flags &= ~(SLAB_RED_ZONE | SLAB_STORE_USER)
        align = ralign
        obj_offset = 0
        if flags & SLAB_RED_ZONE:
            obj_offset += REDZONE_ALIGN
            size += 2 * REDZONE_ALIGN
        if flags & SLAB_STORE_USER:
            size += REDZONE_ALIGN if flags & SLAB_RED_ZONE else BYTES_PER_WORD
        if size >= (PAGE_SIZE >> 3):
            flags |= CFLGS_OFF_SLAB
        size = _align(size, align)
        gfporder, num, left_over = calculate_slab_order(size, align, flags, self.slab_break_gfp_order)
        if not num:
            self.log.printk(KERN_ERR, f"kmem_cache_create: couldn't create cache {name}.")
            return None
        slab_size = _align(num * SIZEOF_BUFCTL + SIZEOF_STRUCT_SLAB, align)
        if flags & CFLGS_OFF_SLAB and left_over >= slab_size:
            flags &= ~CFLGS_OFF_SLAB
            left_over -= slab_size
        if flags & CFLGS_OFF_SLAB:
            slab_size = num * SIZEOF_BUFCTL + SIZEOF_STRUCT_SLAB
        colour_off = max(CACHE_LINE, align)
        cachep = KmemCache(name=name, obj_size=obj_size, buffer_size=size, align=align,
                           flags=flags, gfporder=gfporder, num=num,
                           colour=left_over // colour_off, colour_off=colour_off,
                           slab_size=slab_size,
                           gfpflags=G.GFP_DMA if flags & SLAB_CACHE_DMA else 0,
                           obj_offset=obj_offset, ctor=ctor, dtor=dtor)
        if flags & CFLGS_OFF_SLAB:
            cachep.slabp_cache = self.kmalloc_cache_for(slab_size, 0)
        cachep.nodelists = [KmemList3() for _ in self.nodes]
        self._enable_cpucache(cachep)
        self.cache_chain.insert(0, cachep)
        return cachep

    def _enable_cpucache(self, cachep: KmemCache) -> None:
        """Default tunables by object size (mm/slab.c enable_cpucache)."""
        size = cachep.buffer_size
        if size > 131072:
            limit = 1
        elif size > PAGE_SIZE:
            limit = 8
        elif size > 1024:
            limit = 24
        elif size > 256:
            limit = 54
        else:
            limit = 120
        shared = 8 if size <= PAGE_SIZE and self.cpus > 1 else 0
        if self.slab_debug and limit > 32:
            limit = 32
        self.do_tune_cpucache(cachep, limit, (limit + 1) // 2, shared)

    def do_tune_cpucache(self, cachep: KmemCache, limit: int, batchcount: int, shared: int) -> None:
        """Replace the per-CPU and shared arrays; objects in the old ones go back
        to their slabs."""
        old = cachep.array
        cachep.array = [ArrayCache(limit, batchcount) for _ in range(self.cpus)]
        for ac in old:
            if ac.entry:
                self._free_block(cachep, ac.entry)
                ac.entry = []
        cachep.limit, cachep.batchcount, cachep.shared = limit, batchcount, shared
        for nid, l3 in enumerate(cachep.nodelists):
            if l3.shared and l3.shared.entry:
                self._free_block(cachep, l3.shared.entry)
            l3.shared = ArrayCache(shared * batchcount, 0xBAADF00D) if shared else None
            l3.free_limit = (1 + len(self.nodes[nid].cpus)) * batchcount + cachep.num

    def kmem_cache_destroy(self, cachep: KmemCache) -> bool:
        """Destroy an empty cache. With objects still allocated it logs
        "Can't free all objects", keeps the cache and returns False."""
        if cachep not in self.cache_chain:
            self._slab_bug(f"kmem_cache_destroy: no such cache {cachep.name}")
            return False
        self.cache_chain.remove(cachep)
        if self._cache_shrink(cachep):
            self.log.printk(KERN_ERR, f"slab error in kmem_cache_destroy(): cache `{cachep.name}':"
                                      f" Can't free all objects")
            self.cache_chain.insert(0, cachep)
            return False
        return True

    def find_cache(self, name: str) -> Optional[KmemCache]:
        for c in self.cache_chain:
            if c.name == name:
                return c
        return None

    # -- alloc / free -------------------------------------------------------

    def kmem_cache_alloc(self, cachep: KmemCache, flags: int):
        """Return an object's physical address, or None. Not zeroed unless
        __GFP_ZERO. May sleep only as flags allow (see alloc_pages)."""
        if flags & _SLOW_GFP or self.slab_slow:
            return self._kmem_cache_alloc_slow(cachep, flags)
        cpu = self.current.cpu
        ac = cachep.array[cpu]
        entry = ac.entry
        if entry:
            ac.touched = True
            objp = entry.pop()
        else:
            objp = self._cache_alloc_refill(cachep, flags, cpu)
            if objp is None:
                return None
        cachep.live.add(objp)
        return objp

    def _kmem_cache_alloc_slow(self, cachep: KmemCache, flags: int):
        """kmem_cache_alloc with __GFP_HIGHMEM, __GFP_ZERO, failslab or tracing."""
        if flags & F.HIGHMEM:
            return self._slab_highmem_bug(cachep)
        if self.failslab_armed and should_failslab(self, cachep, flags):
            return None
        ac = cachep.array[self.current.cpu]
        if ac.entry:
            ac.touched = True
            objp = ac.entry.pop()
        else:
            objp = self._cache_alloc_refill(cachep, flags, self.current.cpu)
            if objp is None:
                return None
        cachep.live.add(objp)
        if flags & F.ZERO:
            self.mem.zero(objp, cachep.obj_size)
        if self.trace_hook:
            self.trace_hook("kmem_cache_alloc", cachep, objp, flags)
        return objp

    def _slab_highmem_bug(self, cachep):
        self._slab_bug(f"cache_grow: cache `{cachep.name}': __GFP_HIGHMEM allocations cannot"
                       f" come from the slab (no kernel mapping)")
        return None

    def _cache_alloc_refill(self, cachep: KmemCache, flags: int, cpu: int):
        node = self.cpu_node[cpu]
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
                        slabp.free = ()  # a full slab keeps no list (memory per quantum)
                        full[slabp] = None
                    else:
                        slabp.list = LIST_PARTIAL
                        partial[slabp] = None
                l3.free_objects -= len(ac.entry)
            if not ac.entry:
                grown = self._cache_grow(cachep, flags, node)
                ac = cachep.array[cpu]
                if not grown and not ac.entry:
                    return None
                if not ac.entry:
                    continue
            ac.touched = True
            return ac.entry.pop()

    def _cache_grow(self, cachep: KmemCache, flags: int, nodeid: int) -> bool:
        """Add one slab to the node's free list. Returns False if no pages."""
        l3 = cachep.nodelists[nodeid]
        offset = l3.colour_next
        l3.colour_next += 1
        if l3.colour_next >= cachep.colour:
            l3.colour_next = 0
        offset *= cachep.colour_off
        local_flags = flags & ~(F.ZERO | F.DMA | F.HIGHMEM)
        slabp = Slab(cachep, nodeid)
        pfn = self.alloc_pages(local_flags | cachep.gfpflags, cachep.gfporder, nodeid, slabp)
        if pfn is None:
            return False
        slabp.pfn = pfn
        addr = pfn << PAGE_SHIFT
        if cachep.flags & CFLGS_OFF_SLAB:
            mgmt = self.kmem_cache_alloc(cachep.slabp_cache, local_flags)
            if mgmt is None:
                self.free_pages_pfn(pfn, cachep.gfporder, slab_pages=True)
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
            ctor_flags = SLAB_CTOR_CONSTRUCTOR | (0 if flags & F.WAIT else SLAB_CTOR_ATOMIC)
            for objp in reversed(objs):
                cachep.ctor(self, objp + cachep.obj_offset, cachep, ctor_flags)
        if cachep.flags & (SLAB_POISON | SLAB_RED_ZONE | SLAB_STORE_USER):
            self.slab_debug_init_objs(cachep, objs[::-1])
        slabp.free = objs
        l3.lists[LIST_FREE][slabp] = None
        l3.free_objects += cachep.num
        cachep.grown += 1
        if cachep.flags & SLAB_RECLAIM_ACCOUNT:
            self.nr_slab_pages_reclaimable += 1 << cachep.gfporder
        else:
            self.nr_slab_pages_unreclaimable += 1 << cachep.gfporder
        return True

    def _slab_destroy(self, cachep: KmemCache, slabp: Slab) -> None:
        """Run the destructor over every object and give the pages back."""
        if cachep.flags & (SLAB_POISON | SLAB_RED_ZONE):
            self.slab_debug_destroy_objs(cachep, slabp)
        if cachep.dtor:
            for i in range(cachep.num):
                cachep.dtor(self, slabp.s_mem + i * cachep.buffer_size + cachep.obj_offset, cachep, 0)
        if cachep.flags & SLAB_RECLAIM_ACCOUNT:
            self.nr_slab_pages_reclaimable -= 1 << cachep.gfporder
        else:
            self.nr_slab_pages_unreclaimable -= 1 << cachep.gfporder
        self.free_pages_pfn(slabp.pfn, cachep.gfporder, slab_pages=True)
        if slabp.mgmt is not None:
            self.kmem_cache_free(cachep.slabp_cache, slabp.mgmt)

    def kmem_cache_free(self, cachep: KmemCache, objp: int) -> None:
        """Give an object back to its cache. An object that is not allocated from
        this cache is a logged BUG and nothing changes."""
        try:
            cachep.live.remove(objp)
        except KeyError:
            return self._bad_free(cachep, objp)
        if self.trace_hook:
            self.trace_hook("kmem_cache_free", cachep, objp, 0)
        cpu = self.current.cpu
        if self.numa and self.mem_map[objp >> PAGE_SHIFT].node != self.cpu_node[cpu]:
            cachep.node_frees += 1
            self._free_block(cachep, [objp])
            return
        ac = cachep.array[cpu]
        entry = ac.entry
        if len(entry) >= ac.limit:
            self._cache_flusharray(cachep, ac, self.cpu_node[cpu])
        entry.append(objp)
        if self.free_waiters is not None:
            self.free_waiters()

    def _bad_free(self, cachep: Optional[KmemCache], objp: int) -> None:
        owner = self.mem_map[objp >> PAGE_SHIFT] if 0 <= objp < self.mem.size else None
        name = cachep.name if cachep else "?"
        if cachep:
            cachep.errors += 1
        if isinstance(owner, Slab):
            if owner.cache is not cachep and cachep is not None:
                self.log.printk(KERN_ERR, f"mismatch in kmem_cache_free: expected cache {name},"
                                          f" got {owner.cache.name} (object {objp:#x})")
            elif (objp - owner.s_mem) % owner.cache.buffer_size or objp < owner.s_mem:
                self._slab_bug(f"kfree({objp:#x}): not the start of an object of cache `{owner.cache.name}'")
            else:
                self.log.printk(KERN_ERR, f"slab error in cache_free_debugcheck(): cache `{owner.cache.name}':"
                                          f" double free of object {objp:#x}")
        else:
            self._slab_bug(f"kmem_cache_free({name}, {objp:#x}): pointer is not a slab object")

    def _cache_flusharray(self, cachep: KmemCache, ac: ArrayCache, node: int) -> None:
        batchcount = ac.batchcount
        shared = cachep.nodelists[node].shared
        if shared:
            room = shared.limit - len(shared.entry)
            if room:
                batchcount = min(batchcount, room)
                shared.entry.extend(ac.entry[:batchcount])
                del ac.entry[:batchcount]
                return
        self._free_block(cachep, ac.entry[:batchcount])
        del ac.entry[:batchcount]

    def _free_block(self, cachep: KmemCache, objs: list) -> None:
        """Return objects to their slabs; an empty slab above free_limit is destroyed."""
        mem_map = self.mem_map
        num = cachep.num
        for objp in objs:
            slabp = mem_map[objp >> PAGE_SHIFT]
            l3 = cachep.nodelists[slabp.node]
            full, partial, free = l3.lists
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
                    self._slab_destroy(cachep, slabp)
                else:
                    slabp.list = LIST_FREE
                    free[slabp] = None
            else:
                slabp.list = LIST_PARTIAL
                partial[slabp] = None

    # -- shrinking and reaping ----------------------------------------------

    def _drain_cpu_caches(self, cachep: KmemCache) -> None:
        for ac in cachep.array:
            if ac.entry:
                self._free_block(cachep, ac.entry)
                ac.entry = []
        for l3 in cachep.nodelists:
            if l3.shared and l3.shared.entry:
                self._free_block(cachep, l3.shared.entry)
                l3.shared.entry = []

    def _drain_freelist(self, cachep: KmemCache, l3: KmemList3, tofree: int) -> int:
        free = l3.lists[LIST_FREE]
        n = 0
        while free and n < tofree:
            slabp = next(reversed(free))  # the list's tail
            del free[slabp]
            l3.free_objects -= cachep.num
            self._slab_destroy(cachep, slabp)
            n += 1
        return n

    def _cache_shrink(self, cachep: KmemCache) -> bool:
        """Drain the arrays and free every free slab. True if objects remain."""
        self._drain_cpu_caches(cachep)
        busy = False
        for l3 in cachep.nodelists:
            self._drain_freelist(cachep, l3, len(l3.lists[LIST_FREE]))
            busy = busy or bool(l3.lists[LIST_FULL] or l3.lists[LIST_PARTIAL])
        return busy

    def kmem_cache_shrink(self, cachep: KmemCache) -> int:
        """Drain per-CPU arrays and release free slabs; 1 if objects remain, else 0."""
        return int(self._cache_shrink(cachep))

    def shrink_slab(self, gfp_mask: int) -> int:
        """Direct reclaim of slab memory: shrink every cache this mask may touch.
        SLAB_NO_REAP caches are left alone; fs/io-backed caches need __GFP_FS/__GFP_IO."""
        before = self.nr_slab_pages()
        for cachep in list(self.cache_chain):
            if cachep.flags & SLAB_NO_REAP:
                continue
            if cachep.reclaim == "fs" and not gfp_mask & F.FS:
                continue
            if cachep.reclaim == "io" and not gfp_mask & F.IO:
                continue
            if cachep.shrinker:
                cachep.shrinker(self, cachep, gfp_mask)
            self._cache_shrink(cachep)
        freed = before - self.nr_slab_pages()
        self.vm_events["slabs_scanned"] += freed
        return freed

    def drop_caches(self) -> None:
        """proc/sys/vm/drop_caches 2 or 3: every shrinker frees all it can, then
        every cache is shrunk."""
        self.dropping_caches = True
        try:
            for cachep in list(self.cache_chain):
                if cachep.shrinker:
                    cachep.shrinker(self, cachep, G.GFP_KERNEL)
                self._cache_shrink(cachep)
        finally:
            self.dropping_caches = False
        self.drain_all_pages()

    def _drain_array(self, cachep: KmemCache, ac: ArrayCache, force: bool) -> None:
        if not ac or not ac.entry:
            return
        if ac.touched and not force:
            ac.touched = False
            return
        tofree = len(ac.entry) if force else (ac.limit + 4) // 5
        if tofree > len(ac.entry):
            tofree = (len(ac.entry) + 1) // 2
        self._free_block(cachep, ac.entry[:tofree])
        del ac.entry[:tofree]

    def cache_reap(self) -> None:
        """The periodic reaper (every REAPTIMEOUT_CPUC): trim per-CPU arrays that
        were not touched since the last pass, and free some free slabs."""
        now = self.log.uptime()
        for cachep in list(self.cache_chain):
            if cachep.flags & SLAB_NO_REAP:
                continue
            for ac in cachep.array:
                self._drain_array(cachep, ac, False)
            for l3 in cachep.nodelists:
                if l3.next_reap > now:
                    continue
                l3.next_reap = now + REAPTIMEOUT_LIST3
                if l3.shared:
                    self._drain_array(cachep, l3.shared, False)
                if l3.free_touched:
                    l3.free_touched = False
                    continue
                n = self._drain_freelist(cachep, l3, (l3.free_limit + 5 * cachep.num - 1) // (5 * cachep.num))
                cachep.reaped += n

    # -- the slabinfo write interface ----------------------------------------

    def slabinfo_write(self, data: bytes) -> int:
        """mm/slab.c slabinfo_write: `name limit batchcount shared`. Returns 0 or
        an errno (EINVAL). Out-of-range values for a known cache are ignored."""
        import errno
        if len(data) > 128:
            return errno.EINVAL
        text = data[:128].decode("latin-1")
        name, sep, rest = text.partition(" ")
        if not sep:
            return errno.EINVAL
        try:
            limit, batchcount, shared = (int(x) for x in rest.split()[:3])
            if len(rest.split()) < 3:
                return errno.EINVAL
        except ValueError:
            return errno.EINVAL
        cachep = self.find_cache(name)
        if cachep is None:
            return errno.EINVAL
        if limit < 1 or batchcount < 1 or batchcount > limit or shared < 0:
            return 0
        # do_tune_cpucache kmallocs the new arrays (struct array_cache: 16 bytes
        # plus a pointer per entry): past the largest general cache, ENOMEM
        if 16 + 4 * max(limit, shared * batchcount) > 131072:
            return errno.ENOMEM
        self.do_tune_cpucache(cachep, limit, batchcount, shared)
        return 0
