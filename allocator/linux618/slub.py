"""SLUB as Linux 6.18 has it on x86_64 (mm/slub.c and mm/slab_common.c of 6.12,
the nearest full source, checked against a live 6.18 host), kmalloc included.

A cache (KmemCache, struct kmem_cache) cuts slabs of 2**order pages into
objects of `size` bytes, one after another from the slab's start; a free
object's free pointer says which free object comes next. Each CPU has a
kmem_cache_cpu: the CPU slab, whose free objects form the lockless
`freelist`, and a chain of CPU-partial slabs. Each node has a
kmem_cache_node: the partial list (slabs with free objects that no CPU
owns), nr_slabs and total_objects, and (SLAB_STORE_USER only) the full list.

kmem_cache_alloc pops c->freelist; when it is empty ___slab_alloc refills
it: the CPU slab's own freelist (objects freed by other CPUs), the next
CPU-partial slab, the node's partial list (get_partial_node, which also
moves slabs to the CPU-partial chain), other nodes (get_any_partial), and
last a new slab from the page allocator (allocate_slab: the cache's order
with __GFP_NORETRY, then its minimum order). kmem_cache_free pushes onto
c->freelist when the object is in the CPU slab; otherwise __slab_free puts
it on its slab's freelist, and a slab that was full goes to the CPU-partial
chain (put_cpu_partial, which drains the chain to the node once it holds
cpu_partial_slabs), while a slab that becomes empty on the node list is
freed when the node already keeps min_partial slabs.

Caches with debug flags (SLAB_CONSISTENCY_CHECKS, RED_ZONE, POISON,
STORE_USER, TRACE) never use the CPU freelist: every allocation and free
goes through the node lists under the list lock, and calls the checks of
slub_debug.py (alloc_single_from_partial, alloc_single_from_new_slab,
free_to_partial_list).

Objects are physical addresses (as in 2.6.18's part: the direct map's
PAGE_OFFSET is added only when printing); a freelist is the physical
address of its first object (0: empty), and each free object holds the next
one's kernel address at s->offset in simulated memory (get_freepointer,
set_freepointer), so a write to a freed object can break the chain as it
breaks the kernel's. `cache.live` holds the objects really handed out,
which is what catches double and foreign frees, and a free pointer that
leads outside its slab or to a live object is reported and the rest of that
freelist dropped (docs/deviations.md) instead of handing out a bad object.

The host's configuration is followed: SLAB_FREELIST_RANDOM (a new slab's
chain follows the cache's shuffled sequence, kcalloc'd at creation, from a
random point; the generator is seeded, so a boot is reproducible),
SLAB_FREELIST_HARDENED's cache check on free (its XOR of stored pointers is
not done), MEMCG (the kmalloc-cg- family; a SLAB_ACCOUNT slab's slabobj_ext
vector), HARDENED_USERCOPY (usersize blocks merging), SLUB_CPU_PARTIAL, NUMA,
no FAILSLAB flag bit (cache-filter uses the cache's `failslab` mark).

Slab pages come from the 6.18 page allocator and count, in bytes, in the
node's nr_slab_reclaimable_b / nr_slab_unreclaimable_b (account_slab);
kmalloc above 8 KiB takes pages straight from it and counts them in
nr_slab_unreclaimable_b without being in any cache.
"""
from __future__ import annotations

import random
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Final, Protocol, cast

from .._pure import interpreted
from ..arch import Arch
from ..fault_inject import FaultInject
from ..page_alloc import PageOwner
from ..printk import KERN_ERR, KERN_INFO, KERN_WARNING, KernelLog
from ..sched import Sched, Task, attach_cpu_view
from ..trace import KmemTrace, caller_frame
from ..vmscan import Vmscan
from ..vmstat import VmStat
from .gfp import (
    __GFP_ACCOUNT,
    __GFP_BITS_MASK,
    __GFP_COMP,
    __GFP_DIRECT_RECLAIM,
    __GFP_DMA,
    __GFP_DMA32,
    __GFP_FS,
    __GFP_HARDWALL,
    __GFP_HIGH,
    __GFP_HIGHMEM,
    __GFP_IO,
    __GFP_MEMALLOC,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RECLAIM,
    __GFP_RECLAIMABLE,
    __GFP_RETRY_MAYFAIL,
    __GFP_THISNODE,
    __GFP_ZERO,
    GFP_DMA,
    GFP_DMA32,
    GFP_KERNEL,
    GFP_NOWAIT,
    gfp_format,
)

if TYPE_CHECKING:
    from .page_alloc import PageAllocator

# -- include/linux/slab.h: enum _slab_flag_bits, this config (SLUB_DEBUG, MEMCG,
# SLAB_OBJ_EXT; no DEBUG_OBJECTS, FAILSLAB, KASAN, KFENCE, SLUB_TINY)
SLAB_CONSISTENCY_CHECKS: Final = 1 << 0
SLAB_RED_ZONE: Final = 1 << 1
SLAB_POISON: Final = 1 << 2
SLAB_KMALLOC: Final = 1 << 3
SLAB_HWCACHE_ALIGN: Final = 1 << 4
SLAB_CACHE_DMA: Final = 1 << 5
SLAB_CACHE_DMA32: Final = 1 << 6
SLAB_STORE_USER: Final = 1 << 7
SLAB_PANIC: Final = 1 << 8
SLAB_TYPESAFE_BY_RCU: Final = 1 << 9
SLAB_TRACE: Final = 1 << 10
SLAB_NOLEAKTRACE: Final = 1 << 11
SLAB_NO_MERGE: Final = 1 << 12
SLAB_ACCOUNT: Final = 1 << 13
SLAB_NO_USER_FLAGS: Final = 1 << 14
SLAB_RECLAIM_ACCOUNT: Final = 1 << 15
__OBJECT_POISON: Final = 1 << 16
__CMPXCHG_DOUBLE: Final = 1 << 17
SLAB_NO_OBJ_EXT: Final = 1 << 18
SLAB_DEBUG_OBJECTS: Final = 0          # CONFIG_DEBUG_OBJECTS off
SLAB_FAILSLAB: Final = 0               # CONFIG_FAILSLAB off on the 6.18 host
SLAB_KASAN: Final = 0
SLAB_SKIP_KFENCE: Final = 0
SLAB_TEMPORARY: Final = SLAB_RECLAIM_ACCOUNT
SLAB_FLAG_NAMES: dict[str, int] = {   # annotated: mypyc type-checks versions.py before this module
    "SLAB_CONSISTENCY_CHECKS": SLAB_CONSISTENCY_CHECKS, "SLAB_RED_ZONE": SLAB_RED_ZONE,
    "SLAB_POISON": SLAB_POISON, "SLAB_KMALLOC": SLAB_KMALLOC,
    "SLAB_HWCACHE_ALIGN": SLAB_HWCACHE_ALIGN, "SLAB_CACHE_DMA": SLAB_CACHE_DMA,
    "SLAB_CACHE_DMA32": SLAB_CACHE_DMA32, "SLAB_STORE_USER": SLAB_STORE_USER,
    "SLAB_PANIC": SLAB_PANIC, "SLAB_TYPESAFE_BY_RCU": SLAB_TYPESAFE_BY_RCU,
    "SLAB_TRACE": SLAB_TRACE, "SLAB_NOLEAKTRACE": SLAB_NOLEAKTRACE,
    "SLAB_NO_MERGE": SLAB_NO_MERGE, "SLAB_ACCOUNT": SLAB_ACCOUNT,
    "SLAB_NO_USER_FLAGS": SLAB_NO_USER_FLAGS, "SLAB_RECLAIM_ACCOUNT": SLAB_RECLAIM_ACCOUNT,
    "SLAB_TEMPORARY": SLAB_TEMPORARY, "SLAB_NO_OBJ_EXT": SLAB_NO_OBJ_EXT,
}

# mm/slab.h
SLAB_CORE_FLAGS: Final = (SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_PANIC
                   | SLAB_TYPESAFE_BY_RCU | SLAB_DEBUG_OBJECTS)
SLAB_DEBUG_FLAGS: Final = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_CONSISTENCY_CHECKS
SLAB_CACHE_FLAGS: Final = (SLAB_NOLEAKTRACE | SLAB_RECLAIM_ACCOUNT | SLAB_TEMPORARY | SLAB_ACCOUNT
                    | SLAB_NO_USER_FLAGS | SLAB_KMALLOC | SLAB_NO_MERGE)
CACHE_CREATE_MASK: Final = SLAB_CORE_FLAGS | SLAB_DEBUG_FLAGS | SLAB_CACHE_FLAGS
SLAB_FLAGS_PERMITTED: Final = (SLAB_CORE_FLAGS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE
                        | SLAB_CONSISTENCY_CHECKS | SLAB_NOLEAKTRACE | SLAB_RECLAIM_ACCOUNT
                        | SLAB_TEMPORARY | SLAB_ACCOUNT | SLAB_KMALLOC | SLAB_NO_MERGE
                        | SLAB_NO_USER_FLAGS)
# mm/slab_common.c
SLAB_NEVER_MERGE: Final = (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_TYPESAFE_BY_RCU
                    | SLAB_NOLEAKTRACE | SLAB_FAILSLAB | SLAB_NO_MERGE)
SLAB_MERGE_SAME: Final = SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT
# mm/slub.c
DEBUG_DEFAULT_FLAGS: Final = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER
DEBUG_METADATA_FLAGS: Final = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER
SLUB_DEBUG_LETTERS = {"f": SLAB_CONSISTENCY_CHECKS, "z": SLAB_RED_ZONE, "p": SLAB_POISON,
                      "u": SLAB_STORE_USER, "t": SLAB_TRACE, "a": SLAB_FAILSLAB}

MIN_PARTIAL: Final = 5
MAX_PARTIAL: Final = 10
OO_SHIFT: Final = 16
OO_MASK: Final = (1 << OO_SHIFT) - 1
MAX_OBJS_PER_PAGE: Final = 32767       # slab->objects is 15 bits
SHRINK_PROMOTE_MAX: Final = 32
PAGE_ALLOC_COSTLY_ORDER: Final = 3
MAX_PAGE_ORDER: Final = 10
DEACTIVATE_TO_HEAD: Final = 0
DEACTIVATE_TO_TAIL: Final = 1
NUMA_NO_NODE: Final = -1
SIZEOF_TRACK: Final = 32               # struct track with STACKDEPOT: addr, handle, cpu, pid, when
SIZEOF_FREEPTR: Final = 8
# sizeof(struct kmem_cache_node) on the 6.18 host (barn pointer included);
# offsetof(struct kmem_cache, node) there: kmem_cache is 224 + 8 per node (live: 232)
SIZEOF_KMEM_CACHE_NODE: Final = 72
OFFSETOF_KMEM_CACHE_NODE: Final = 224
ID_STR_LENGTH: Final = 32

# -- include/linux/slab.h kmalloc
KMALLOC_SHIFT_LOW: Final = 3
KMALLOC_SHIFT_HIGH: Final = 13         # PAGE_SHIFT + 1
KMALLOC_SHIFT_MAX: Final = 22          # MAX_PAGE_ORDER + PAGE_SHIFT
KMALLOC_MAX_CACHE_SIZE: Final = 1 << KMALLOC_SHIFT_HIGH
KMALLOC_MAX_SIZE: Final = 1 << KMALLOC_SHIFT_MAX
KMALLOC_MIN_SIZE: Final = 1 << KMALLOC_SHIFT_LOW
ARCH_KMALLOC_MINALIGN: Final = 8       # __alignof__(unsigned long long)
ZERO_SIZE_PTR: Final = 16
KMALLOC_NORMAL: Final = 0
KMALLOC_RECLAIM: Final = 1
KMALLOC_DMA: Final = 2
KMALLOC_CGROUP: Final = 3
KMALLOC_NO_OBJ_EXT: Final = 4
NR_KMALLOC_TYPES: Final = 5
KMALLOC_TYPE_PREFIX: Final = ("kmalloc-", "kmalloc-rcl-", "dma-kmalloc-", "kmalloc-cg-", "kmalloc-no-objext-")
KMALLOC_NOT_NORMAL_BITS: Final = __GFP_RECLAIMABLE | __GFP_DMA | __GFP_ACCOUNT
# mm/internal.h
GFP_SLAB_BUG_MASK: Final = __GFP_DMA32 | __GFP_HIGHMEM | ~__GFP_BITS_MASK
GFP_RECLAIM_MASK: Final = (__GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | __GFP_RETRY_MAYFAIL
                    | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC)
GFP_CONSTRAINT_MASK: Final = __GFP_HARDWALL | __GFP_THISNODE
SIZEOF_KMEM_BUCKETS: Final = 8 * (KMALLOC_SHIFT_HIGH + 1)
SIZEOF_SLABOBJ_EXT: Final = 8          # struct slabobj_ext: the objcg pointer (no memory profiling)
OBJCGS_CLEAR_MASK: Final = __GFP_DMA | __GFP_RECLAIMABLE | __GFP_ACCOUNT | __GFP_NOFAIL

# kmalloc_info[]: (size, the name's size part)
KMALLOC_INFO: tuple[tuple[int, str], ...] = (
    (0, "0"), (96, "96"), (192, "192"), (8, "8"), (16, "16"), (32, "32"), (64, "64"),
    (128, "128"), (256, "256"), (512, "512"), (1024, "1k"), (2048, "2k"), (4096, "4k"),
    (8192, "8k"), (16384, "16k"), (32768, "32k"), (65536, "64k"), (131072, "128k"),
    (262144, "256k"), (524288, "512k"), (1048576, "1M"), (2097152, "2M"))
# kmalloc_size_index[(size - 1) / 8] for sizes up to 192
KMALLOC_SIZE_INDEX: Final = bytes((3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7,
                            2, 2, 2, 2, 2, 2, 2, 2))

# slab_state (mm/slab.h)
DOWN: Final = 0
PARTIAL: Final = 1
UP: Final = 3
FULL: Final = 4
# poison.h
POISON_INUSE: Final = 0x5A
SLUB_RED_INACTIVE: Final = 0xBB
SLUB_RED_ACTIVE: Final = 0xCC

# Lines of mm/slub.c (6.12.117) named in BUG and WARNING reports
LINE_SET_FREEPOINTER_BUG: Final = 550      # set_freepointer: BUG_ON(object == fp)
LINE_CACHE_FROM_OBJ: Final = 4770          # cache_from_obj: WARN "Wrong slab cache"
LINE_VIRT_TO_CACHE: Final = 4756           # virt_to_cache: WARN_ONCE "Object is not a Slab page!"
LINE_FREE_LARGE_KMALLOC: Final = 4799      # free_large_kmalloc: WARN_ON_ONCE(order == 0)
LINE_KSIZE: Final = 1046                   # mm/slab_common.c __ksize: WARN_ON(folio_size <= KMALLOC_MAX_CACHE_SIZE)
LINE_KMEM_CACHE_DESTROY: Final = 548       # mm/slab_common.c kmem_cache_destroy: WARN(err, ...)

# The functions a trace call site or a debug track looks through.
SLUB_ENTRY_POINTS: Final = frozenset((
    "kmem_cache_alloc", "kmem_cache_alloc_node", "kmem_cache_zalloc", "slab_alloc_node",
    "___slab_alloc", "__slab_alloc", "kmem_cache_free", "slab_free", "do_slab_free", "__slab_free",
    "free_to_partial_list", "alloc_single_from_partial", "alloc_single_from_new_slab",
    "get_partial_node", "get_partial", "get_any_partial", "new_slab", "allocate_slab", "kmalloc",
    "kmalloc_node", "__do_kmalloc_node", "__kmalloc_large_node", "___kmalloc_large_node",
    "kzalloc", "kcalloc", "kfree", "free_large_kmalloc", "kstrdup_const", "_ret_ip",
    "kmem_cache_create", "__kmem_cache_create_args", "create_cache", "do_kmem_cache_create",
    "init_kmem_cache_nodes", "kmem_cache_destroy", "slab_kmem_cache_release", "discard_slab",
    "free_slab", "__free_slab", "deactivate_slab", "__put_partials", "put_cpu_partial"))

Ctor = Callable[[int], None]        # void (*ctor)(void *): called with the object's address


def ALIGN(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def ALIGN_DOWN(x: int, a: int) -> int:
    return x & ~(a - 1)


def fls(x: int) -> int:
    """Find last set bit: fls(1) = 1, fls(0) = 0."""
    return x.bit_length()


def ilog2(x: int) -> int:
    return x.bit_length() - 1


def get_order(size: int) -> int:
    """include/asm-generic/getorder.h get_order (4 KiB pages)."""
    return max(0, (size - 1) >> 12).bit_length()


def order_objects(order: int, size: int) -> int:
    return (4096 << order) // size


def oo_make(order: int, size: int) -> int:
    return (order << OO_SHIFT) + order_objects(order, size)


def oo_order(oo: int) -> int:
    return oo >> OO_SHIFT


def oo_objects(oo: int) -> int:
    return oo & OO_MASK


# -- structures -------------------------------------------------------------


class ListHead(Protocol):
    """struct list_head: what SlabList and Slab have in common."""
    next: ListHead
    prev: ListHead


class SlabList:
    """A list_head of slabs (a node's partial or full list); iterating walks
    from the head, as list_for_each_entry_safe does. `count` is its length."""
    __slots__ = ("count", "next", "prev")

    def __init__(self) -> None:
        self.next: ListHead = self
        self.prev: ListHead = self
        self.count = 0

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


def list_add(new: Slab, head: SlabList) -> None:
    """include/linux/list.h list_add: at the head."""
    nxt = head.next
    nxt.prev = new
    new.next = nxt
    new.prev = head
    head.next = new
    new.on = head
    head.count += 1


def list_add_tail(new: Slab, head: SlabList) -> None:
    prev = head.prev
    head.prev = new
    new.next = head
    new.prev = prev
    prev.next = new
    new.on = head
    head.count += 1


def list_del(entry: Slab) -> None:
    entry.next.prev = entry.prev
    entry.prev.next = entry.next
    entry.next = entry.prev = entry
    on = entry.on
    if on is not None:
        on.count -= 1
        entry.on = None


class Slab(PageOwner):
    """struct slab: the pages of one slab, cut into `objects` objects.

    freelist: the first of the slab's own free objects (0: none); inuse:
    objects not on that freelist (a frozen CPU slab counts the CPU
    freelist's objects as in use, as SLUB does); frozen: it is a CPU slab;
    pnext/slabs: the CPU-partial chain (slab->next) and its length; on: the
    node list it is on (partial or full)."""
    __slots__ = ("addr", "end", "freelist", "frozen", "inuse", "next", "node", "obj_exts", "objects",
                 "on", "on_partial", "order", "pnext", "prev", "slabs")
    # `cache` keeps PageOwner's type (mypyc does not let a subclass narrow an
    # attribute); a slab's is always its KmemCache, see _slab_cache.

    def __init__(self, cache: KmemCache, order: int, objects: int):
        self.cache = cache
        self.name = cache.name
        self.pfn = 0
        self.addr = 0
        self.end = 0                       # slab_address + (PAGE_SIZE << order)
        self.order = order
        self.objects = objects
        self.inuse = 0
        self.freelist = 0
        self.frozen = False
        self.node = 0
        self.slabs = 0
        self.obj_exts = 0                  # the slabobj_ext vector (kmalloc'd), 0: none
        self.pnext: Slab | None = None     # slab->next: the CPU-partial chain
        self.on_partial = False            # PG_workingset: on the node partial list
        self.on: SlabList | None = None
        self.next: ListHead = self         # slab_list
        self.prev: ListHead = self

    @property
    def gfporder(self) -> int:
        return self.order

    def __repr__(self) -> str:
        return f"<Slab {_slab_cache(self).name} pfn {self.pfn:#x} {self.inuse}/{self.objects}>"


def _slab_cache(slab: Slab) -> KmemCache:
    """slab->slab_cache: a Slab is built with its KmemCache."""
    return cast(KmemCache, slab.cache)


class KmemCacheCpu:
    """struct kmem_cache_cpu: the lockless freelist, the CPU slab, the
    CPU-partial chain (slab->next; its head's `slabs` counts it)."""
    __slots__ = ("freelist", "partial", "slab")

    def __init__(self) -> None:
        self.freelist = 0
        self.slab: Slab | None = None
        self.partial: Slab | None = None

    def partial_slabs(self) -> Iterator[Slab]:
        p = self.partial
        while p is not None:
            yield p
            p = p.pnext


class KmemCacheNode:
    """struct kmem_cache_node. `addr` is the object of kmem_cache_node that holds it."""
    __slots__ = ("addr", "full", "nr_partial", "nr_slabs", "partial", "total_objects")

    def __init__(self, addr: int = 0) -> None:
        self.partial = SlabList()
        self.nr_partial = 0
        self.nr_slabs = 0
        self.total_objects = 0
        self.full = SlabList()
        self.addr = addr


@dataclass(eq=False)
class KmemCache:
    """struct kmem_cache (field names as in mm/slab.h)."""
    name: str
    object_size: int
    size: int
    align: int
    flags: int
    ctor: Ctor | None = None
    offset: int = 0
    inuse: int = 0
    red_left_pad: int = 0
    order: int = 0                  # oo_order(s->oo)
    objects: int = 0                # oo_objects(s->oo)
    min_order: int = 0              # oo_order(s->min)
    min_objects: int = 0            # oo_objects(s->min)
    refcount: int = 1
    min_partial: int = MIN_PARTIAL
    cpu_partial: int = 0
    cpu_partial_slabs: int = 0
    useroffset: int = 0
    usersize: int = 0
    allocflags: int = 0
    remote_node_defrag_ratio: int = 1000
    random: int = 0                 # CONFIG_SLAB_FREELIST_HARDENED: the free pointer key
    random_seq: list[int] | None = None     # CONFIG_SLAB_FREELIST_RANDOM: object offsets, shuffled
    random_seq_addr: int = 0        # the kcalloc'd array that holds it
    cpu_slab: list[KmemCacheCpu] = field(default_factory=list)
    node: list[KmemCacheNode | None] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    kmalloc: bool = False
    live: set[int] = field(default_factory=set)
    desc: int = 0                   # its struct kmem_cache: an object of kmem_cache (0: static)
    name_addr: int = 0              # kstrdup_const's copy of the name (0: none)
    failslab: bool = False          # sysfs `failslab` (cache-filter)
    stats: dict[str, int] = field(default_factory=dict)
    allocator: SlabAllocator | None = field(default=None, repr=False)  # whose cache it is

    # what the page allocator, trace and the 2.6.18 readers know a cache by
    @property
    def gfporder(self) -> int:
        return self.order

    @gfporder.setter
    def gfporder(self, value: int) -> None:
        self.order = value

    @property
    def obj_size(self) -> int:
        return self.object_size

    @obj_size.setter
    def obj_size(self, value: int) -> None:
        self.object_size = value

    @property
    def buffer_size(self) -> int:
        return self.size

    @buffer_size.setter
    def buffer_size(self, value: int) -> None:
        self.size = value

    @property
    def oo(self) -> int:
        return (self.order << OO_SHIFT) | self.objects

    @property
    def min(self) -> int:
        return (self.min_order << OO_SHIFT) | self.min_objects

    def nodes(self) -> Iterator[tuple[int, KmemCacheNode]]:
        """for_each_kmem_cache_node."""
        for nid, n in enumerate(self.node):
            if n is not None:
                yield nid, n

    def __repr__(self) -> str:
        return f"<KmemCache {self.name} {self.size}>"


class PartialContext:
    """struct partial_context."""
    __slots__ = ("flags", "object", "orig_size")

    def __init__(self, flags: int, orig_size: int):
        self.flags = flags
        self.orig_size = orig_size
        self.object: int | None = None


class DebugHooks(Protocol):
    """What slub_debug.py provides: the checks (called only for caches with
    debug flags) and the report helpers WARN and BUG share with them."""
    TRACK_ALLOC: int
    TAINT_WARN: int
    UTS_RELEASE: str
    UTS_VERSION: str

    def print_tainted(self, sl: SlabAllocator) -> str: ...

    def add_taint(self, sl: SlabAllocator, flag: int) -> None: ...

    def simulated_stack(self, sl: SlabAllocator, frame: FrameType | None, own: bool = False,
                        limit: int = 16) -> tuple[list[str], str | None]: ...

    def setup_slab_debug(self, sl: SlabAllocator, s: KmemCache, slab: Slab) -> None: ...

    def setup_object_debug(self, sl: SlabAllocator, s: KmemCache, obj: int) -> None: ...

    def alloc_debug_processing(self, sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int,
                               orig_size: int | None = None) -> bool: ...

    def free_debug_processing(self, sl: SlabAllocator, s: KmemCache, slab: Slab, obj: int,
                              addr: int | None = None) -> bool: ...

    def init_object(self, sl: SlabAllocator, s: KmemCache, obj: int, val: int) -> None: ...

    def free_slab_checks(self, sl: SlabAllocator, s: KmemCache, slab: Slab) -> None: ...

    def set_track(self, sl: SlabAllocator, s: KmemCache, obj: int, alloc: int,
                  addr: int | None = None) -> None: ...


KMALLOC_LARGE: Final = PageOwner("kmalloc_large")  # the head page of a kmalloc above 8 KiB


class SlabAllocator:
    """SLUB's state: slab_caches, the kmalloc caches, slab_debug, slab_state."""

    def __init__(self, arch: Arch, pa: PageAllocator, log: KernelLog, sched: Sched, vmstat: VmStat,
                 faults: FaultInject, trace: KmemTrace, vmscan: Vmscan, debug: str | bool = ""):
        self.arch = arch
        self.pa = self.page_alloc = pa
        self.mem = pa.mem
        self.mem_map = pa.mem_map
        self.mem_size = pa.mem.size
        self.page_shift = arch.page_shift
        self.page_size = arch.page_size
        self.page_offset = arch.page_offset         # free pointers hold kernel addresses
        self.log = log
        self.sched = sched
        self.vmstat = vmstat
        self.faults = faults
        self.trace = trace
        self.vmscan = vmscan
        trace.skip.update(SLUB_ENTRY_POINTS)
        self.nr_cpus = sched.nr_cpus
        self.cpu_node: list[int] = list(pa.cpu_node)
        self.nr_node_ids = len(pa.nodes)
        self.slab_nodes = [nid for nid in range(self.nr_node_ids)]
        self.slab_caches: list[KmemCache] = []      # newest first (list_add)
        self.kmalloc_caches: list[list[KmemCache | None]] = [
            [None] * (KMALLOC_SHIFT_HIGH + 1) for _ in range(NR_KMALLOC_TYPES)]
        self.slab_state = DOWN
        self.slab_nomerge = False                   # slab_nomerge / slub_nomerge
        self.slub_min_order = 0
        self.slub_max_order = PAGE_ALLOC_COSTLY_ORDER
        self.slub_min_objects = 0                   # slab_min_objects= (0: from the CPU count)
        self.nr_present_cpus = sched.nr_cpus        # num_present_cpus()
        # slab_debug= letters; True (2.6.18's --slab-debug switch) is slab_debug=FZPU
        self.debug = "FZPU" if debug is True else debug or ""
        self.slub_debug, self.disable_higher_order_debug = parse_slub_debug_flags(self.debug)
        self.debug_hooks: DebugHooks | None = None
        self.debug_state: object = None             # slub_debug.py's SlubDebugState (made when first needed)
        self.kmem_cache: KmemCache | None = None
        self.kmem_cache_node: KmemCache | None = None
        self.large: dict[int, int] = {}             # large kmalloc: address -> order
        self.rng = random.Random(0)                 # get_random_*, get_cycles()
        self.freelist_random = True                 # CONFIG_SLAB_FREELIST_RANDOM=y on the 6.18 host
        self.memcg_kmem_online = True               # memcg_kmem_online(): MEMCG, kmem accounting on
        self.warned_once: set[str] = set()
        self.oom_ratelimit: list[float] = []        # slub_oom_rs: DEFAULT_RATELIMIT 5 s / 10
        # set while fault injection or tracing is on: the fast paths step aside
        self.slow = False
        self.current = sched.current
        self.free_waiters: Callable[[], None] | None = None
        attach_cpu_view(sched, self)

    @property
    def cache_chain(self) -> list[KmemCache]:
        """2.6.18's name for slab_caches (newest first)."""
        return self.slab_caches


def parse_slub_debug_flags(text: str) -> tuple[int, bool]:
    """mm/slub.c parse_slub_debug_flags for a `slab_debug=` option without a
    cache list: (flags, disable_higher_order_debug). "" means off; letters
    F Z P U T A O, `-` for none; a non-empty string without letters is FZPU."""
    if not text:
        return 0, False
    letters = text.split(",", 1)[0].split(";", 1)[0]
    if not letters:
        return DEBUG_DEFAULT_FLAGS, False
    flags = 0
    higher = False
    for ch in letters.lower():
        if ch == "-":
            flags = 0
        elif ch == "o":
            higher = True
        elif ch in SLUB_DEBUG_LETTERS:
            flags |= SLUB_DEBUG_LETTERS[ch]
        else:
            raise ValueError(f"slab_debug option '{ch}' unknown. skipped")
    return flags, higher


def kmem_cache_debug(s: KmemCache) -> bool:
    return bool(s.flags & SLAB_DEBUG_FLAGS)


def kmem_cache_has_cpu_partial(s: KmemCache) -> bool:
    return not s.flags & SLAB_DEBUG_FLAGS


def slub_debug_orig_size(s: KmemCache) -> bool:
    return bool(s.flags & SLAB_STORE_USER and s.flags & SLAB_KMALLOC)


def _hooks(sl: SlabAllocator) -> DebugHooks:
    """slub_debug.py, loaded the first time a debug cache needs it."""
    if sl.debug_hooks is None:
        import importlib
        mod: DebugHooks = importlib.import_module(".slub_debug", __package__)
        sl.debug_hooks = mod
    return sl.debug_hooks


def _ret_ip(sl: SlabAllocator) -> str:
    """_RET_IP_ of the allocator's caller as %pS prints it."""
    from .show_mem import call_site as site_of
    frame, _ = caller_frame(sl.trace, sys._getframe(1))
    return site_of(sl.trace, frame) if frame is not None else "0x0"


# -- the calls that report run interpreted ---------------------------------------
#
# SLUB's reports (WARN, BUG, _RET_IP_, slab_debug's tracks and checks), the
# page allocator's (warn_alloc, the OOM killer), fault injection's and the
# trace events' call sites read Python frames. While this module runs compiled
# its functions have none, so an entry point hands a call that could reach one
# of them to the pure twin, whole, before it changes anything (_pure.py); the
# rare entry points (kmem_cache_create, kmem_cache_destroy, kmem_cache_shrink)
# always run there.


def _twin() -> ModuleType | None:
    """This module's pure twin while it runs compiled, else None."""
    return interpreted(__name__)


def _slow_alloc_may_report(sl: SlabAllocator, s: KmemCache, gfpflags: int, node: int) -> bool:
    """Could an allocation from s that misses the CPU freelist report? Yes
    while tracing, fault injection or slab debugging is on, for a debug cache,
    for a SLAB_ACCOUNT cache (its new slab takes a second allocation, the
    slabobj_ext vector), and when a new slab's pages could come from the page
    allocator's slow path (page_alloc.alloc_may_report; for a node, the
    __GFP_THISNODE attempt's flags too)."""
    if sl.slow or sl.faults.failslab_armed or sl.trace.hook is not None:
        return True
    if s.flags & (SLAB_DEBUG_FLAGS | SLAB_ACCOUNT):
        return True
    from .page_alloc import alloc_may_report
    nid = None if node == NUMA_NO_NODE else node
    if alloc_may_report(sl.pa, gfpflags | s.allocflags, s.order, nid):
        return True
    return nid is not None and alloc_may_report(sl.pa, GFP_NOWAIT | __GFP_THISNODE | s.allocflags, s.order, nid)


def _kmalloc_twin(sl: SlabAllocator, size: int, flags: int, node: int) -> ModuleType | None:
    """The twin that kmalloc(size, flags) on `node` runs in (None: here). Not
    for a request __do_kmalloc_node's fast path serves; a large one asks the
    page allocator."""
    size &= (1 << 64) - 1                       # a size_t
    if 0 < size <= KMALLOC_MAX_CACHE_SIZE:
        s = sl.kmalloc_caches[kmalloc_type(flags)][kmalloc_index(size)]
        assert s is not None
        if not sl.slow and node == NUMA_NO_NODE and s.cpu_slab[sl.current.cpu].freelist:
            return None
        return _twin() if _slow_alloc_may_report(sl, s, flags, node) else None
    if sl.slow or sl.trace.hook is not None:
        return _twin()
    if size > KMALLOC_MAX_CACHE_SIZE:
        from .page_alloc import alloc_may_report
        order = get_order(size)
        if alloc_may_report(sl.pa, flags & ~GFP_SLAB_BUG_MASK, order, None if node == NUMA_NO_NODE else node):
            return _twin()
    return None


def _free_twin(sl: SlabAllocator, s: KmemCache | None, x: int) -> ModuleType | None:
    """The twin that a free of x (to s; None: kfree) runs in (None: here): a
    free that could report (not a slab object nor a large kmalloc's, another
    cache's object, a debug cache, an object that is not handed out)."""
    if sl.slow or sl.trace.hook is not None:
        return _twin()
    slab = virt_to_slab(sl, x)
    if slab is None:
        return _twin() if s is not None or x not in sl.large else None
    cache = _slab_cache(slab)
    if (s is not None and cache is not s) or cache.flags & SLAB_DEBUG_FLAGS or x not in cache.live:
        return _twin()
    return None


# -- reports ----------------------------------------------------------------


def _comm(sl: SlabAllocator) -> str:
    """dump_stack_print_info's CPU line."""
    D = _hooks(sl)
    cur = sl.current
    uid = cur.uid if cur.uid is not None else 0
    return (f"CPU: {cur.cpu} UID: {uid} PID: {cur.pid} Comm: {cur.comm[:20]} {D.print_tainted(sl)}"
            f" {D.UTS_RELEASE} {D.UTS_VERSION} ")


def _call_trace(sl: SlabAllocator, depth: int) -> list[str]:
    """The simulated stack from `depth` frames up: the function, then its callers."""
    path, _ = _hooks(sl).simulated_stack(sl, sys._getframe(depth + 1), True, 64)
    return path


def warn(sl: SlabAllocator, file: str, line: int, text: str | None, depth: int = 1) -> None:
    """WARN()/WARN_ON() in the function `depth` frames up: __warn_printk's cut-here
    line and message, __warn's WARNING line, modules, CPU line, call trace (no
    registers), end marker; TAINT_WARN."""
    D = _hooks(sl)
    path = _call_trace(sl, depth)
    cur = sl.current
    log = sl.log
    log.printk(KERN_WARNING, "------------[ cut here ]------------")
    if text:
        log.printk(KERN_WARNING, text)
    log.printk(KERN_WARNING, f"WARNING: CPU: {cur.cpu} PID: {cur.pid} at {file}:{line}"
                             f" {path[0] if path else '?'}")
    modules = sorted(set(sl.trace.drivers.values()))
    log.printk(KERN_WARNING, "Modules linked in:" + "".join(f" {m}" for m in modules))
    log.printk(KERN_WARNING, _comm(sl))
    log.printk(KERN_WARNING, "Call Trace:\n <TASK>" + "".join(f"\n {f}" for f in path[1:]) + "\n </TASK>")
    log.printk(KERN_WARNING, "---[ end trace 0000000000000000 ]---")
    D.add_taint(sl, D.TAINT_WARN)


def warn_once(sl: SlabAllocator, file: str, line: int, text: str | None) -> None:
    key = f"{file}:{line}"
    if key in sl.warned_once:
        return
    sl.warned_once.add(key)
    warn(sl, file, line, text, 2)


def slub_BUG(sl: SlabAllocator, line: int) -> None:
    """BUG() in mm/slub.c: the oops header and call trace; the operation does
    not happen (the daemon never crashes)."""
    path = _call_trace(sl, 1)
    sl.log.printk(KERN_WARNING, "------------[ cut here ]------------")
    sl.log.printk(0, f"kernel BUG at mm/slub.c:{line}!\n"
                     "Oops: invalid opcode: 0000 [#1] SMP NOPTI\n" + _comm(sl) + "\nCall Trace:\n <TASK>"
                     + "".join(f"\n {f}" for f in path[1:]) + "\n </TASK>")


def slab_sim_bug(sl: SlabAllocator, text: str) -> None:
    """A misuse 6.18 would not notice here without slab_debug (the simulator's
    own check, docs/deviations.md): logged, nothing changes."""
    sl.log.printk(KERN_ERR, f"slab: {text}")


def _ptr(sl: SlabAllocator, addr: int) -> str:
    """%p of a direct-map address (hashed pointers off: the address itself)."""
    return f"{sl.arch.page_offset + addr:016x}"


# -- sizing -----------------------------------------------------------------


def calculate_alignment(sl: SlabAllocator, flags: int, align: int, size: int) -> int:
    """mm/slab_common.c calculate_alignment."""
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = sl.arch.cache_line
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    align = max(align, ARCH_KMALLOC_MINALIGN)   # arch_slab_minalign
    return ALIGN(align, 8)


def calc_slab_order(size: int, min_order: int, max_order: int, fract_leftover: int) -> int:
    """mm/slub.c calc_slab_order: the smallest order wasting at most 1/fract."""
    order = min_order
    while order <= max_order:
        slab_size = 4096 << order
        if slab_size % size <= slab_size // fract_leftover:
            break
        order += 1
    return order


def calculate_order(sl: SlabAllocator, size: int) -> int:
    """mm/slub.c calculate_order (min_objects 4 * (fls(nr_cpus) + 1))."""
    min_objects = sl.slub_min_objects
    if not min_objects:
        nr_cpus = sl.nr_present_cpus
        if nr_cpus <= 1:
            nr_cpus = sl.nr_cpus        # nr_cpu_ids
        min_objects = 4 * (fls(nr_cpus) + 1)
    max_objects = max(order_objects(sl.slub_max_order, size), 1)
    min_objects = min(min_objects, max_objects)
    min_order = max(sl.slub_min_order, get_order(min_objects * size))
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    fraction = 16
    while fraction > 1:
        order = calc_slab_order(size, min_order, sl.slub_max_order, fraction)
        if order <= sl.slub_max_order:
            return order
        fraction //= 2
    order = get_order(size)
    if order <= MAX_PAGE_ORDER:
        return order
    return -1


def calculate_sizes(sl: SlabAllocator, s: KmemCache, freeptr_offset: int | None = None) -> bool:
    """mm/slub.c calculate_sizes: the object layout (inuse, offset, red zones,
    tracks), s->size, the order and allocflags. False if no object fits."""
    flags = s.flags
    size = ALIGN(s.object_size, 8)
    if flags & SLAB_POISON and not flags & SLAB_TYPESAFE_BY_RCU and not s.ctor:
        s.flags |= __OBJECT_POISON
    else:
        s.flags &= ~__OBJECT_POISON
    if flags & SLAB_RED_ZONE and size == s.object_size:
        size += 8
    s.inuse = size
    if ((flags & SLAB_TYPESAFE_BY_RCU and freeptr_offset is None) or flags & SLAB_POISON or s.ctor
            or (flags & SLAB_RED_ZONE and (s.object_size < 8 or slub_debug_orig_size(s)))):
        s.offset = size
        size += SIZEOF_FREEPTR
    elif flags & SLAB_TYPESAFE_BY_RCU and freeptr_offset is not None:
        s.offset = freeptr_offset
    else:
        s.offset = ALIGN_DOWN(s.object_size // 2, 8)
    if flags & SLAB_STORE_USER:
        size += 2 * SIZEOF_TRACK
        if flags & SLAB_KMALLOC:
            size += 8                   # orig_size
    s.red_left_pad = 0
    if flags & SLAB_RED_ZONE:
        size += 8
        s.red_left_pad = ALIGN(8, s.align)
        size += s.red_left_pad
    size = ALIGN(size, s.align)
    s.size = size
    order = calculate_order(sl, size)
    if order < 0:
        return False
    s.allocflags = __GFP_COMP
    if s.flags & SLAB_CACHE_DMA:
        s.allocflags |= GFP_DMA
    if s.flags & SLAB_CACHE_DMA32:
        s.allocflags |= GFP_DMA32
    if s.flags & SLAB_RECLAIM_ACCOUNT:
        s.allocflags |= __GFP_RECLAIMABLE
    s.order, s.objects = order, order_objects(order, size)
    s.min_order = get_order(size)
    s.min_objects = order_objects(s.min_order, size)
    return s.objects > 0


def set_cpu_partial(s: KmemCache) -> None:
    """mm/slub.c set_cpu_partial + slub_set_cpu_partial."""
    if not kmem_cache_has_cpu_partial(s):
        nr_objects = 0
    elif s.size >= 4096:
        nr_objects = 6
    elif s.size >= 1024:
        nr_objects = 24
    elif s.size >= 256:
        nr_objects = 52
    else:
        nr_objects = 120
    slub_set_cpu_partial(s, nr_objects)


def slub_set_cpu_partial(s: KmemCache, nr_objects: int) -> None:
    s.cpu_partial = nr_objects
    s.cpu_partial_slabs = -(-nr_objects * 2 // s.objects)   # DIV_ROUND_UP


def set_min_partial(s: KmemCache, min_partial: int) -> None:
    """do_kmem_cache_create: clamp(ilog2(size) / 2, MIN_PARTIAL, MAX_PARTIAL)."""
    s.min_partial = max(MIN_PARTIAL, min(MAX_PARTIAL, min_partial))


def kmem_cache_flags(sl: SlabAllocator, flags: int, name: str) -> int:
    """mm/slub.c kmem_cache_flags: slab_debug= applies to every cache
    (no per-cache lists here); SLAB_NOLEAKTRACE caches lose STORE_USER."""
    if flags & SLAB_NO_USER_FLAGS:
        return flags
    local = sl.slub_debug
    if flags & SLAB_NOLEAKTRACE:
        local &= ~SLAB_STORE_USER
    return flags | local


# -- cache creation ---------------------------------------------------------


def init_kmem_cache_cpus(sl: SlabAllocator, s: KmemCache) -> None:
    s.cpu_slab = [KmemCacheCpu() for _ in range(sl.nr_cpus)]


def init_kmem_cache_nodes(sl: SlabAllocator, s: KmemCache) -> bool:
    """mm/slub.c init_kmem_cache_nodes: a kmem_cache_node object per node
    (early_kmem_cache_node_alloc while slab_state is DOWN)."""
    s.node = [None] * sl.nr_node_ids
    for nid in sl.slab_nodes:
        if sl.slab_state == DOWN:
            if not early_kmem_cache_node_alloc(sl, nid):
                return False
            continue
        assert sl.kmem_cache_node is not None
        addr = kmem_cache_alloc_node(sl, sl.kmem_cache_node, GFP_KERNEL, nid)
        if addr is None:
            return False
        s.node[nid] = KmemCacheNode(addr)
    return True


def early_kmem_cache_node_alloc(sl: SlabAllocator, nid: int) -> bool:
    """mm/slub.c early_kmem_cache_node_alloc: the first kmem_cache_node slab,
    by hand; its first object is the node structure of kmem_cache_node itself."""
    s = sl.kmem_cache_node
    assert s is not None
    slab = new_slab(sl, s, GFP_NOWAIT, nid)
    if slab is None:
        sl.log.printk(0, "Kernel panic - not syncing: kernel BUG at mm/slub.c: early_kmem_cache_node_alloc")
        return False
    if slab.node != nid:
        sl.log.printk(KERN_ERR, f"SLUB: Unable to allocate memory from node {nid}")
        sl.log.printk(KERN_ERR, "SLUB: Allocating a useless per node structure in order to be able to continue")
    n_addr = slab.freelist
    if s.flags & SLAB_DEBUG_FLAGS:
        _hooks(sl).init_object(sl, s, n_addr, SLUB_RED_ACTIVE)
    slab.freelist = get_freepointer(sl, s, n_addr)
    slab.inuse = 1
    s.live.add(n_addr)
    n = KmemCacheNode(n_addr)
    s.node[nid] = n
    inc_slabs_node(s, nid, slab.objects)
    __add_partial(n, slab, DEACTIVATE_TO_HEAD)
    return True


def do_kmem_cache_create(sl: SlabAllocator, s: KmemCache, freeptr_offset: int | None = None) -> int:
    """mm/slub.c do_kmem_cache_create: sizes, min_partial, cpu_partial, the
    per-node and per-CPU structures. 0 or -EINVAL/-ENOMEM."""
    s.flags = kmem_cache_flags(sl, s.flags, s.name)
    s.allocator = sl
    s.random = sl.rng.getrandbits(64)
    if not calculate_sizes(sl, s, freeptr_offset):
        return -22
    if sl.disable_higher_order_debug and get_order(s.size) > get_order(s.object_size):
        s.flags &= ~DEBUG_METADATA_FLAGS
        s.offset = 0
        if not calculate_sizes(sl, s, freeptr_offset):
            return -22
    set_min_partial(s, ilog2(s.size) // 2)
    set_cpu_partial(s)
    s.remote_node_defrag_ratio = 1000
    if sl.slab_state >= UP and not init_cache_random_seq(sl, s):
        return -12
    init_kmem_cache_cpus(sl, s)
    if not init_kmem_cache_nodes(sl, s):
        __kmem_cache_release(sl, s)
        return -12
    return 0


def create_boot_cache(sl: SlabAllocator, s: KmemCache, flags: int, usersize: int) -> None:
    """mm/slab_common.c create_boot_cache: kmalloc caches are aligned to the
    largest power of two dividing their size; refcount -1 (no merging yet)."""
    align = ARCH_KMALLOC_MINALIGN
    if flags & SLAB_KMALLOC:
        size = s.object_size
        align = max(align, size & -size)
    s.align = calculate_alignment(sl, flags, align, s.object_size)
    s.usersize = usersize
    s.flags = flags
    err = do_kmem_cache_create(sl, s)
    if err:
        raise RuntimeError(f"Creation of kmalloc slab {s.name} size={s.object_size} failed. Reason {err}")
    s.refcount = -1


def kmem_cache_zalloc(sl: SlabAllocator, s: KmemCache | None, gfp: int) -> int | None:
    """include/linux/slab.h kmem_cache_zalloc."""
    assert s is not None
    return kmem_cache_alloc(sl, s, gfp | __GFP_ZERO)


def kmem_cache_init(sl: SlabAllocator) -> None:
    """mm/slub.c kmem_cache_init: kmem_cache_node and kmem_cache as static
    boot caches, then bootstrap() moves both into objects of kmem_cache (and
    onto slab_caches: kmem_cache first, so kmem_cache_node is the newer),
    then create_kmalloc_caches."""
    boot_node = KmemCache(name="kmem_cache_node", object_size=SIZEOF_KMEM_CACHE_NODE,
                          size=SIZEOF_KMEM_CACHE_NODE, align=0, flags=0)
    sl.kmem_cache_node = boot_node
    create_boot_cache(sl, boot_node, SLAB_HWCACHE_ALIGN | SLAB_NO_OBJ_EXT, 0)
    sl.slab_state = PARTIAL
    size = OFFSETOF_KMEM_CACHE_NODE + sl.nr_node_ids * 8
    boot_cache = KmemCache(name="kmem_cache", object_size=size, size=size, align=0, flags=0)
    sl.kmem_cache = boot_cache
    create_boot_cache(sl, boot_cache, SLAB_HWCACHE_ALIGN | SLAB_NO_OBJ_EXT, 0)
    bootstrap(sl, boot_cache)
    bootstrap(sl, boot_node)
    create_kmalloc_caches(sl)
    init_freelist_randomization(sl)
    sl.log.printk(KERN_INFO, f"SLUB: HWalign={sl.arch.cache_line}, Order={sl.slub_min_order}-"
                             f"{sl.slub_max_order}, MinObjects={sl.slub_min_objects}, "
                             f"CPUs={sl.nr_cpus}, Nodes={sl.nr_node_ids}")
    sl.slab_state = FULL


def bootstrap(sl: SlabAllocator, s: KmemCache) -> None:
    """mm/slub.c bootstrap: the static cache gets a kmem_cache object, its CPU
    slab is flushed (the boot CPU's), and it goes onto slab_caches."""
    desc = kmem_cache_zalloc(sl, sl.kmem_cache, GFP_NOWAIT)
    assert desc is not None
    s.desc = desc
    __flush_cpu_slab(sl, s, 0)
    sl.slab_caches.insert(0, s)


def create_kmalloc_cache(sl: SlabAllocator, name: str, size: int, flags: int) -> KmemCache:
    """mm/slab_common.c create_kmalloc_cache."""
    desc = kmem_cache_zalloc(sl, sl.kmem_cache, GFP_NOWAIT)
    if desc is None:
        raise RuntimeError(f"Out of memory when creating slab {name}")
    s = KmemCache(name=name, object_size=size, size=size, align=0, flags=0, desc=desc, kmalloc=True)
    create_boot_cache(sl, s, flags | SLAB_KMALLOC, size)
    sl.slab_caches.insert(0, s)
    s.refcount = 1
    return s


def new_kmalloc_cache(sl: SlabAllocator, idx: int, type_: int) -> None:
    """mm/slab_common.c new_kmalloc_cache (MEMCG: NORMAL caches get NO_MERGE;
    kmalloc-no-objext is KMALLOC_NORMAL without memory profiling)."""
    flags = 0
    if type_ == KMALLOC_RECLAIM:
        flags |= SLAB_RECLAIM_ACCOUNT
    elif type_ == KMALLOC_CGROUP:
        flags |= SLAB_ACCOUNT
    elif type_ == KMALLOC_NO_OBJ_EXT:
        sl.kmalloc_caches[type_][idx] = sl.kmalloc_caches[KMALLOC_NORMAL][idx]
        return
    elif type_ == KMALLOC_DMA:
        flags |= SLAB_CACHE_DMA
    if type_ == KMALLOC_NORMAL:
        flags |= SLAB_NO_MERGE
    size, short = KMALLOC_INFO[idx]
    if sl.kmalloc_caches[type_][idx] is None:
        sl.kmalloc_caches[type_][idx] = create_kmalloc_cache(
            sl, KMALLOC_TYPE_PREFIX[type_] + short, size, flags)


def create_kmalloc_caches(sl: SlabAllocator) -> None:
    """mm/slab_common.c create_kmalloc_caches: for each type, -96 and -192
    first, then 8 ... 8k; then kmalloc_buckets (SLAB_BUCKETS)."""
    for type_ in range(NR_KMALLOC_TYPES):
        new_kmalloc_cache(sl, 1, type_)
        new_kmalloc_cache(sl, 2, type_)
        for i in range(KMALLOC_SHIFT_LOW, KMALLOC_SHIFT_HIGH + 1):
            new_kmalloc_cache(sl, i, type_)
    sl.slab_state = UP
    kmem_cache_create(sl, "kmalloc_buckets", SIZEOF_KMEM_BUCKETS, 0, SLAB_NO_MERGE, None)


def slab_unmergeable(sl: SlabAllocator, s: KmemCache) -> bool:
    """mm/slab_common.c slab_unmergeable (HARDENED_USERCOPY: usersize counts)."""
    if sl.slab_nomerge or s.flags & SLAB_NEVER_MERGE:
        return True
    if s.ctor is not None:
        return True
    if s.usersize:
        return True
    return s.refcount < 0


def find_mergeable(sl: SlabAllocator, size: int, align: int, flags: int, name: str,
                   ctor: Ctor | None, usersize: int = 0) -> KmemCache | None:
    """mm/slab_common.c find_mergeable: the oldest cache whose objects are at
    most 7 bytes bigger, aligned alike, with the same SLAB_MERGE_SAME flags."""
    if sl.slab_nomerge or ctor is not None or usersize:
        return None
    flags = kmem_cache_flags(sl, flags, name)
    if flags & SLAB_NEVER_MERGE:
        return None
    size = ALIGN(size, 8)
    align = calculate_alignment(sl, flags, align, size)
    size = ALIGN(size, align)
    for s in reversed(sl.slab_caches):
        if slab_unmergeable(sl, s):
            continue
        if size > s.size:
            continue
        if flags & SLAB_MERGE_SAME != s.flags & SLAB_MERGE_SAME:
            continue
        if s.size & ~(align - 1) != s.size:
            continue
        if s.size - size >= 8:
            continue
        return s
    return None


def __kmem_cache_alias(sl: SlabAllocator, name: str, size: int, align: int, flags: int,
                       ctor: Ctor | None, usersize: int) -> KmemCache | None:
    """mm/slab_common.c __kmem_cache_alias (sysfs_slab_alias: the new name
    becomes a symlink to the target's directory)."""
    s = find_mergeable(sl, size, align, flags, name, ctor, usersize)
    if s is not None:
        if name != s.name and name not in s.aliases:
            s.aliases.append(name)
        s.refcount += 1
        s.object_size = max(s.object_size, size)
        s.inuse = max(s.inuse, ALIGN(size, 8))
    return s


def kmem_cache_create(sl: SlabAllocator, name: str | None, size: int, align: int = 0, flags: int = 0,
                      ctor: Ctor | None = None) -> KmemCache | None:
    """include/linux/slab.h kmem_cache_create (6.x: name, size, align, flags,
    ctor) = __kmem_cache_create_args: an alias of a mergeable cache, or a new
    cache. None (with the kernel's warning and stack) on failure."""
    twin = _twin()
    if twin is not None:
        created: KmemCache | None = twin.kmem_cache_create(sl, name, size, align, flags, ctor)
        return created
    return __kmem_cache_create_args(sl, name, size, align, flags, ctor)


def kmem_cache_create_usercopy(sl: SlabAllocator, name: str | None, size: int, align: int, flags: int,
                               useroffset: int, usersize: int, ctor: Ctor | None = None) -> KmemCache | None:
    """include/linux/slab.h kmem_cache_create_usercopy: a region that may be
    copied to or from user space (HARDENED_USERCOPY; usersize makes the cache unmergeable)."""
    twin = _twin()
    if twin is not None:
        created: KmemCache | None = twin.kmem_cache_create_usercopy(sl, name, size, align, flags, useroffset,
                                                                    usersize, ctor)
        return created
    return __kmem_cache_create_args(sl, name, size, align, flags, ctor, useroffset, usersize)


def kmem_cache_size(s: KmemCache) -> int:
    """mm/slab_common.c kmem_cache_size: the object size."""
    return s.object_size


def __kmem_cache_create_args(sl: SlabAllocator, name: str | None, object_size: int, align: int,
                             flags: int, ctor: Ctor | None, useroffset: int = 0, usersize: int = 0,
                             freeptr_offset: int | None = None) -> KmemCache | None:
    """mm/slab_common.c __kmem_cache_create_args."""
    err = 0
    s: KmemCache | None = None
    if name is None or object_size <= 0:
        # 6.18 (no CONFIG_DEBUG_VM) would oops on a NULL name or divide by
        # a zero size: the simulator fails the call instead
        err = -22
    elif flags & ~SLAB_FLAGS_PERMITTED:
        err = -22
    else:
        flags &= CACHE_CREATE_MASK
        if usersize > object_size or object_size - usersize < useroffset:
            usersize = useroffset = 0
        s = __kmem_cache_alias(sl, name, object_size, align, flags, ctor, usersize)
        if s is None:
            name_addr = kstrdup_const(sl, name) if sl.slab_state >= FULL else 0
            if name_addr is None:
                err = -12
            else:
                align = calculate_alignment(sl, flags, align, object_size)
                s, err = create_cache(sl, name, object_size, align, flags, ctor, useroffset, usersize,
                                      freeptr_offset)
                if s is None and name_addr:
                    kfree(sl, name_addr)
                elif s is not None:
                    s.name_addr = name_addr
    if err:
        if flags & SLAB_PANIC:
            sl.log.printk(0, f"Kernel panic - not syncing: __kmem_cache_create_args: Failed to create"
                             f" slab '{name}'. Error {err}")
        else:
            sl.log.printk(KERN_WARNING, f"__kmem_cache_create_args({name}) failed with error {err}")
            sl.log.printk(KERN_WARNING, _comm(sl))
        return None
    return s


def create_cache(sl: SlabAllocator, name: str, object_size: int, align: int, flags: int,
                 ctor: Ctor | None, useroffset: int, usersize: int, freeptr_offset: int | None
                 ) -> tuple[KmemCache | None, int]:
    """mm/slab_common.c create_cache: a kmem_cache object, do_kmem_cache_create,
    refcount 1, at the head of slab_caches."""
    if freeptr_offset is not None and (freeptr_offset >= object_size or not flags & SLAB_TYPESAFE_BY_RCU
                                       or freeptr_offset % 8):
        return None, -22
    assert sl.kmem_cache is not None
    desc = kmem_cache_zalloc(sl, sl.kmem_cache, GFP_KERNEL)
    if desc is None:
        return None, -12
    s = KmemCache(name=name, object_size=object_size, size=object_size, align=align, flags=flags,
                  ctor=ctor, useroffset=useroffset, usersize=usersize, desc=desc)
    err = do_kmem_cache_create(sl, s, freeptr_offset)
    if err:
        kmem_cache_free(sl, sl.kmem_cache, desc)
        return None, err
    s.refcount = 1
    sl.slab_caches.insert(0, s)
    return s, 0


def kstrdup_const(sl: SlabAllocator, name: str) -> int | None:
    """mm/util.c kstrdup_const: a module's string is copied (strlen + 1 bytes
    of kmalloc); the address, or None."""
    data = name.encode() + b"\0"
    addr = kmalloc(sl, len(data), GFP_KERNEL)
    if addr is not None:
        sl.mem.write(addr, data)
    return addr


def create_unique_id(s: KmemCache) -> str:
    """mm/slub.c create_unique_id: `:[flags-]size` (d DMA, D DMA32,
    a RECLAIM_ACCOUNT, F CONSISTENCY_CHECKS, A ACCOUNT)."""
    letters = ""
    if s.flags & SLAB_CACHE_DMA:
        letters += "d"
    if s.flags & SLAB_CACHE_DMA32:
        letters += "D"
    if s.flags & SLAB_RECLAIM_ACCOUNT:
        letters += "a"
    if s.flags & SLAB_CONSISTENCY_CHECKS:
        letters += "F"
    if s.flags & SLAB_ACCOUNT:
        letters += "A"
    return ":" + (letters + "-" if letters else "") + f"{s.size:07d}"


def sysfs_name(sl: SlabAllocator, s: KmemCache) -> str:
    """The directory sysfs_slab_add gives a cache: its name if it is
    unmergeable, else its unique id (its name and aliases are symlinks)."""
    return s.name if slab_unmergeable(sl, s) else create_unique_id(s)


def sysfs_links(sl: SlabAllocator, s: KmemCache) -> list[str]:
    """The symlinks to a mergeable cache's directory: its name and aliases."""
    if slab_unmergeable(sl, s):
        return []
    return [s.name, *s.aliases]


def kmem_cache_destroy(sl: SlabAllocator, s: KmemCache | None) -> int:
    """mm/slab_common.c kmem_cache_destroy: refcount--; the last reference
    shuts the cache down. With objects left it WARNs and the cache leaves
    slab_caches but is not freed (1); 0 otherwise."""
    twin = _twin()
    if twin is not None:
        left: int = twin.kmem_cache_destroy(sl, s)
        return left
    if s is None:
        return 0
    s.refcount -= 1
    if s.refcount:
        return 0
    err = __kmem_cache_shutdown(sl, s)
    if err:
        warn(sl, "mm/slab_common.c", LINE_KMEM_CACHE_DESTROY,
             f"kmem_cache_destroy {s.name}: Slab cache still has objects when called from {_ret_ip(sl)}")
    if s in sl.slab_caches:
        sl.slab_caches.remove(s)
    if err:
        return 1
    slab_kmem_cache_release(sl, s)
    return 0


def slab_kmem_cache_release(sl: SlabAllocator, s: KmemCache) -> None:
    """mm/slab_common.c slab_kmem_cache_release: the node structures, the name, the descriptor."""
    __kmem_cache_release(sl, s)
    if s.name_addr:
        kfree(sl, s.name_addr)
        s.name_addr = 0
    if s.desc and sl.kmem_cache is not None:
        kmem_cache_free(sl, sl.kmem_cache, s.desc)
        s.desc = 0


def __kmem_cache_release(sl: SlabAllocator, s: KmemCache) -> None:
    """mm/slub.c __kmem_cache_release: cache_random_seq_destroy, free_kmem_cache_nodes
    (the per-CPU part is percpu memory)."""
    if s.random_seq_addr:
        kfree(sl, s.random_seq_addr)
    s.random_seq, s.random_seq_addr = None, 0
    for nid, n in list(s.nodes()):
        s.node[nid] = None
        if n.addr and sl.kmem_cache_node is not None:
            kmem_cache_free(sl, sl.kmem_cache_node, n.addr)


def __kmem_cache_shutdown(sl: SlabAllocator, s: KmemCache) -> int:
    """mm/slub.c __kmem_cache_shutdown: flush, free every empty partial slab; 1 if objects remain."""
    flush_all(sl, s)
    for _nid, n in s.nodes():
        free_partial(sl, s, n)
        if n.nr_partial or n.nr_slabs:
            return 1
    return 0


def free_partial(sl: SlabAllocator, s: KmemCache, n: KmemCacheNode) -> None:
    """mm/slub.c free_partial: discard empty partial slabs; list_slab_objects reports the others."""
    discard: list[Slab] = []
    for slab in n.partial:
        if not slab.inuse:
            remove_partial(n, slab)
            discard.append(slab)
        else:
            list_slab_objects(sl, s, slab)
    for slab in reversed(discard):              # list_add to the discard list: its head first
        discard_slab(sl, s, slab)


def list_slab_objects(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    """mm/slub.c list_slab_objects: slab_bug and each object still allocated."""
    sl.log.printk(KERN_ERR, "=" * 77 + f"\nBUG {s.name} (Not tainted): Objects remaining on"
                            " __kmem_cache_shutdown()\n" + "-" * 77 + "\n")
    free = set(freelist_objects(sl, s, slab, slab.freelist))
    start = slab.addr + s.red_left_pad
    for i in range(slab.objects):
        p = start + i * s.size
        if p not in free and p in s.live:
            sl.log.printk(KERN_ERR, f"Object 0x{_ptr(sl, p)} @offset={p - slab.addr}")
    sl.log.printk(KERN_ERR, f"Slab 0x{_ptr(sl, slab.addr)} objects={slab.objects} used={slab.inuse}"
                            f" fp=0x{_ptr(sl, slab.freelist) if slab.freelist else '0' * 16}")


# -- freelist randomization (CONFIG_SLAB_FREELIST_RANDOM) --------------------


def init_cache_random_seq(sl: SlabAllocator, s: KmemCache) -> bool:
    """mm/slub.c init_cache_random_seq: cache_random_seq_create (a kcalloc of one
    unsigned int per object, Fisher-Yates shuffled), then scaled to offsets."""
    count = s.objects
    if not sl.freelist_random or s.random_seq is not None or count < 2:
        return True
    addr = kcalloc(sl, count, 4, GFP_KERNEL)
    if addr is None:
        return False
    seq = list(range(count))
    for i in range(count - 1, 0, -1):        # freelist_randomize
        r = sl.rng.randrange(i + 1)
        seq[i], seq[r] = seq[r], seq[i]
    sl.mem.write(addr, b"".join(v.to_bytes(4, "little") for v in seq))
    s.random_seq = [v * s.size for v in seq]
    s.random_seq_addr = addr
    return True


def init_freelist_randomization(sl: SlabAllocator) -> None:
    """mm/slub.c init_freelist_randomization: every boot cache gets its sequence."""
    for s in sl.slab_caches:
        init_cache_random_seq(sl, s)


def shuffle_freelist(sl: SlabAllocator, s: KmemCache, slab: Slab) -> bool:
    """mm/slub.c shuffle_freelist: the chain follows random_seq from a random
    position, skipping offsets beyond a smaller (fallback order) slab."""
    seq = s.random_seq
    if slab.objects < 2 or seq is None:
        return False
    count = len(seq)
    pos = sl.rng.randrange(count)
    page_limit = slab.objects * s.size
    start = slab.addr + s.red_left_pad
    setup = s.flags & SLAB_DEBUG_FLAGS or s.ctor is not None
    order: list[int] = []
    while len(order) < slab.objects:          # next_freelist_entry
        idx = seq[pos]
        pos = pos + 1 if pos + 1 < count else 0
        if idx < page_limit:
            order.append(start + idx)
    view = sl.mem.view
    pack = _pack_u64
    off = s.offset
    base = sl.page_offset
    for i, cur in enumerate(order):
        if setup:
            setup_object(sl, s, cur)
        nxt = order[i + 1] if i + 1 < len(order) else 0
        pack(view, cur + off, base + nxt if nxt else 0)
    slab.freelist = order[0]
    return True


# -- slab pages -------------------------------------------------------------


def alloc_slab_page(sl: SlabAllocator, s: KmemCache, flags: int, node: int, order: int, objects: int
                    ) -> Slab | None:
    """mm/slub.c alloc_slab_page: the pages, marked as this slab's."""
    from .page_alloc import alloc_pages
    slab = Slab(s, order, objects)
    pfn = alloc_pages(sl.pa, flags, order, None if node == NUMA_NO_NODE else node, slab)
    if pfn is None:
        return None
    slab.pfn = pfn
    slab.addr = pfn << sl.page_shift
    slab.end = slab.addr + (sl.page_size << order)
    slab.node = slab_nid(sl, pfn)
    return slab


def slab_nid(sl: SlabAllocator, pfn: int) -> int:
    from .page_alloc import page_zone
    node = page_zone(sl.pa, pfn).node
    return node if isinstance(node, int) else int(node.id)


def account_slab(sl: SlabAllocator, slab: Slab, s: KmemCache, sign: int, gfp: int = 0) -> None:
    """account_slab / unaccount_slab: a SLAB_ACCOUNT cache's new slab gets its
    slabobj_ext vector (alloc_slab_obj_exts: a kcalloc of 8 bytes per object;
    memcg kmem is online on the 6.18 host), freed with the slab
    (free_slab_obj_exts); the node's slab bytes (cache_vmstat_idx;
    mod_node_page_state keeps VmStat's page counts too)."""
    from .page_alloc import mod_node_page_state
    if sign > 0:
        if sl.memcg_kmem_online and s.flags & SLAB_ACCOUNT:
            vec = kcalloc_node(sl, slab.objects, SIZEOF_SLABOBJ_EXT, gfp & ~OBJCGS_CLEAR_MASK, slab.node)
            slab.obj_exts = vec or 0
    elif slab.obj_exts:
        kfree(sl, slab.obj_exts)
        slab.obj_exts = 0
    pages = 1 << slab.order
    if s.flags & SLAB_RECLAIM_ACCOUNT:
        mod_node_page_state(sl.pa, slab.node, "nr_slab_reclaimable_b", sign * (pages << sl.page_shift))
    else:
        mod_node_page_state(sl.pa, slab.node, "nr_slab_unreclaimable_b", sign * (pages << sl.page_shift))


def allocate_slab(sl: SlabAllocator, s: KmemCache, flags: int, node: int) -> Slab | None:
    """mm/slub.c allocate_slab: s->oo with NOWARN|NORETRY (and, above the
    minimum order, no reclaim), then s->min with the caller's flags."""
    flags |= s.allocflags
    alloc_gfp = (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL
    if alloc_gfp & __GFP_DIRECT_RECLAIM and s.order > s.min_order:
        alloc_gfp = (alloc_gfp | __GFP_NOMEMALLOC) & ~__GFP_RECLAIM
    slab = alloc_slab_page(sl, s, alloc_gfp, node, s.order, s.objects)
    if slab is None:
        slab = alloc_slab_page(sl, s, flags, node, s.min_order, s.min_objects)
        if slab is None:
            return None
        s.stats["order_fallback"] = s.stats.get("order_fallback", 0) + 1
    slab.inuse = 0
    slab.frozen = False
    account_slab(sl, slab, s, 1, flags)
    debug = s.flags & SLAB_DEBUG_FLAGS
    if debug:
        _hooks(sl).setup_slab_debug(sl, s, slab)
    if shuffle_freelist(sl, s, slab):
        return slab
    start = slab.addr + s.red_left_pad                                    # fixup_red_left
    size = s.size
    setup = debug or s.ctor is not None
    if setup:
        setup_object(sl, s, start)
    slab.freelist = start
    # the chain in address order (the cache has no random_seq)
    view = sl.mem.view
    pack = _pack_u64
    off = s.offset
    base = sl.page_offset
    p = start
    for _ in range(slab.objects - 1):
        nxt = p + size
        if setup:
            setup_object(sl, s, nxt)
        pack(view, p + off, base + nxt)
        p = nxt
    pack(view, p + off, 0)
    return slab


def setup_object(sl: SlabAllocator, s: KmemCache, p: int) -> None:
    """mm/slub.c setup_object: the debug layout, then the constructor."""
    if s.flags & SLAB_DEBUG_FLAGS:
        _hooks(sl).setup_object_debug(sl, s, p)
    if s.ctor is not None:
        s.ctor(p)


def new_slab(sl: SlabAllocator, s: KmemCache, flags: int, node: int) -> Slab | None:
    """mm/slub.c new_slab: fix bad flags, keep only the reclaim and constraint bits."""
    if flags & GFP_SLAB_BUG_MASK:
        flags = kmalloc_fix_flags(sl, flags)
    return allocate_slab(sl, s, flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK), node)


def __free_slab(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    from .page_alloc import __free_pages
    account_slab(sl, slab, s, -1)
    __free_pages(sl.pa, slab.pfn, slab.order, slab_pages=True)


def free_slab(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    """mm/slub.c free_slab (SLAB_TYPESAFE_BY_RCU's call_rcu is immediate here);
    with SLAB_CONSISTENCY_CHECKS the padding and every (free) object are checked first."""
    if s.flags & SLAB_CONSISTENCY_CHECKS:
        _hooks(sl).free_slab_checks(sl, s, slab)
    __free_slab(sl, s, slab)


def discard_slab(sl: SlabAllocator, s: KmemCache, slab: Slab) -> None:
    dec_slabs_node(s, slab.node, slab.objects)
    free_slab(sl, s, slab)


def inc_slabs_node(s: KmemCache, nid: int, objects: int) -> None:
    n = s.node[nid]
    if n is not None:
        n.nr_slabs += 1
        n.total_objects += objects


def dec_slabs_node(s: KmemCache, nid: int, objects: int) -> None:
    n = s.node[nid]
    if n is not None:
        n.nr_slabs -= 1
        n.total_objects -= objects


# -- node lists -------------------------------------------------------------


def __add_partial(n: KmemCacheNode, slab: Slab, tail: int) -> None:
    n.nr_partial += 1
    if tail == DEACTIVATE_TO_TAIL:
        list_add_tail(slab, n.partial)
    else:
        list_add(slab, n.partial)
    slab.on_partial = True


add_partial = __add_partial


def remove_partial(n: KmemCacheNode, slab: Slab) -> None:
    list_del(slab)
    slab.on_partial = False
    n.nr_partial -= 1


def add_full(s: KmemCache, n: KmemCacheNode, slab: Slab) -> None:
    """mm/slub.c add_full: only SLAB_STORE_USER caches keep a full list."""
    if not s.flags & SLAB_STORE_USER:
        return
    list_add(slab, n.full)


def remove_full(s: KmemCache, n: KmemCacheNode, slab: Slab) -> None:
    if not s.flags & SLAB_STORE_USER:
        return
    list_del(slab)


def alloc_single_from_partial(sl: SlabAllocator, s: KmemCache, n: KmemCacheNode, slab: Slab,
                              orig_size: int) -> int | None:
    """mm/slub.c alloc_single_from_partial (debug caches)."""
    obj = slab.freelist
    slab.freelist = get_freepointer(sl, s, obj)
    slab.inuse += 1
    if not _hooks(sl).alloc_debug_processing(sl, s, slab, obj, orig_size):
        if slab.on_partial:
            remove_partial(n, slab)
        return None
    if slab.inuse == slab.objects:
        remove_partial(n, slab)
        add_full(s, n, slab)
    return obj


def alloc_single_from_new_slab(sl: SlabAllocator, s: KmemCache, slab: Slab, orig_size: int) -> int | None:
    """mm/slub.c alloc_single_from_new_slab (debug caches)."""
    n = s.node[slab.node]
    assert n is not None
    obj = slab.freelist
    slab.freelist = get_freepointer(sl, s, obj)
    slab.inuse = 1
    if not _hooks(sl).alloc_debug_processing(sl, s, slab, obj, orig_size):
        return None
    if slab.inuse == slab.objects:
        add_full(s, n, slab)
    else:
        add_partial(n, slab, DEACTIVATE_TO_HEAD)
    inc_slabs_node(s, slab.node, slab.objects)
    return obj


def get_partial_node(sl: SlabAllocator, s: KmemCache, n: KmemCacheNode | None,
                     pc: PartialContext) -> Slab | None:
    """mm/slub.c get_partial_node: the first partial slab for the CPU, more
    onto its CPU-partial chain until more than cpu_partial_slabs / 2."""
    if n is None or not n.nr_partial:
        return None
    partial: Slab | None = None
    partial_slabs = 0
    debug = s.flags & SLAB_DEBUG_FLAGS
    for slab in n.partial:
        if debug:
            obj = alloc_single_from_partial(sl, s, n, slab, pc.orig_size)
            if obj is not None:
                partial = slab
                pc.object = obj
                break
            continue
        remove_partial(n, slab)
        if partial is None:
            partial = slab
            if s.cpu_partial_slabs == 0:
                break
        else:
            put_cpu_partial(sl, s, slab, False)
            partial_slabs += 1
            if partial_slabs > s.cpu_partial_slabs // 2:
                break
    return partial


def get_any_partial(sl: SlabAllocator, s: KmemCache, pc: PartialContext) -> Slab | None:
    """mm/slub.c get_any_partial (CONFIG_NUMA): other nodes with more than
    min_partial partial slabs, unless remote_node_defrag_ratio says no."""
    if not s.remote_node_defrag_ratio or sl.rng.randrange(1024) > s.remote_node_defrag_ratio:
        return None
    here = sl.cpu_node[sl.current.cpu]
    for nid in [here] + [i for i in range(sl.nr_node_ids) if i != here]:
        n = s.node[nid]
        if n is not None and n.nr_partial > s.min_partial:
            slab = get_partial_node(sl, s, n, pc)
            if slab is not None:
                return slab
    return None


def get_partial(sl: SlabAllocator, s: KmemCache, node: int, pc: PartialContext) -> Slab | None:
    """mm/slub.c get_partial: the node asked for (or this CPU's), then any."""
    searchnode = sl.cpu_node[sl.current.cpu] if node == NUMA_NO_NODE else node
    slab = get_partial_node(sl, s, s.node[searchnode], pc)
    if slab is not None or (node != NUMA_NO_NODE and pc.flags & __GFP_THISNODE):
        return slab
    return get_any_partial(sl, s, pc)


# -- CPU slabs --------------------------------------------------------------


def get_freelist(slab: Slab) -> int:
    """mm/slub.c get_freelist: take the slab's whole freelist; it stays frozen if there was one."""
    freelist = slab.freelist
    slab.freelist = 0
    slab.inuse = slab.objects
    slab.frozen = bool(freelist)
    return freelist


def freeze_slab(slab: Slab) -> int:
    freelist = slab.freelist
    slab.freelist = 0
    slab.inuse = slab.objects
    slab.frozen = True
    return freelist


def deactivate_slab(sl: SlabAllocator, s: KmemCache, slab: Slab, freelist: int) -> None:
    """mm/slub.c deactivate_slab: the CPU freelist goes back in front of the
    slab's own; the slab is unfrozen onto the node partial list (tail if it
    had remote frees), discarded if empty and the node has min_partial, or
    left off every list if full."""
    nid = slab.node
    n = s.node[nid]
    assert n is not None
    tail = DEACTIVATE_TO_TAIL if slab.freelist else DEACTIVATE_TO_HEAD
    # stage one: count the CPU freelist and find its tail
    free_delta = 0
    freelist_tail = 0
    p = freelist
    while p:
        nextfree = get_freepointer(sl, s, p)
        if nextfree and not freepointer_ok(s, slab, nextfree, free_delta):
            freelist_broken(sl, s, slab, p)
            set_freepointer(sl, s, p, 0)
            nextfree = 0
        freelist_tail = p
        free_delta += 1
        p = nextfree
    # stage two: splice it in front of the slab's own freelist, unfreeze
    if freelist_tail:
        slab.inuse -= free_delta
        set_freepointer(sl, s, freelist_tail, slab.freelist)
        slab.freelist = freelist
    slab.frozen = False
    if not slab.inuse and n.nr_partial >= s.min_partial:
        discard_slab(sl, s, slab)
    elif slab.freelist:
        add_partial(n, slab, tail)


def __put_partials(sl: SlabAllocator, s: KmemCache, partial_slab: Slab | None) -> None:
    """mm/slub.c __put_partials: a CPU-partial chain to the node lists (tail);
    empty slabs are discarded while the node has min_partial."""
    discard: list[Slab] = []
    while partial_slab is not None:
        slab = partial_slab
        partial_slab = slab.pnext
        slab.pnext = None
        n = s.node[slab.node]
        assert n is not None
        if not slab.inuse and n.nr_partial >= s.min_partial:
            discard.append(slab)
        else:
            add_partial(n, slab, DEACTIVATE_TO_TAIL)
    for slab in reversed(discard):              # slab_to_discard is a chain built at its head
        discard_slab(sl, s, slab)


def put_cpu_partial(sl: SlabAllocator, s: KmemCache, slab: Slab, drain: bool) -> None:
    """mm/slub.c put_cpu_partial: push onto this CPU's partial chain; with
    drain, a chain already holding cpu_partial_slabs goes to the node first."""
    c = s.cpu_slab[sl.current.cpu]
    oldslab = c.partial
    slab_to_put: Slab | None = None
    slabs = 0
    if oldslab is not None:
        if drain and oldslab.slabs >= s.cpu_partial_slabs:
            slab_to_put = oldslab
            oldslab = None
        else:
            slabs = oldslab.slabs
    slabs += 1
    slab.slabs = slabs
    slab.pnext = oldslab
    c.partial = slab
    if slab_to_put is not None:
        __put_partials(sl, s, slab_to_put)


def put_partials_cpu(sl: SlabAllocator, s: KmemCache, c: KmemCacheCpu) -> None:
    partial_slab = c.partial
    c.partial = None
    if partial_slab is not None:
        __put_partials(sl, s, partial_slab)


def __flush_cpu_slab(sl: SlabAllocator, s: KmemCache, cpu: int) -> None:
    """mm/slub.c __flush_cpu_slab / flush_cpu_slab: deactivate the CPU slab, put the partials."""
    c = s.cpu_slab[cpu]
    freelist = c.freelist
    slab = c.slab
    c.slab = None
    c.freelist = 0
    if slab is not None:
        deactivate_slab(sl, s, slab, freelist)
    put_partials_cpu(sl, s, c)


def flush_all(sl: SlabAllocator, s: KmemCache) -> None:
    """mm/slub.c flush_all: every online CPU with a CPU slab or partials."""
    if s.flags & SLAB_DEBUG_FLAGS or sl.slow:
        twin = _twin()
        if twin is not None:
            twin.flush_all(sl, s)
            return
    for cpu, c in enumerate(s.cpu_slab):
        if c.slab is not None or c.partial is not None:
            __flush_cpu_slab(sl, s, cpu)


# -- allocation -------------------------------------------------------------


class FailslabHook(Protocol):
    """fault_inject.py of 6.18 (when present): should_failslab and its SLAB_FAILSLAB bit."""
    SLAB_FAILSLAB: int

    def should_failslab(self, fi: FaultInject, s_flags: int, object_size: int, gfp: int,
                        bootstrap: bool = False, task: Task | None = None) -> bool: ...


_failslab: list[FailslabHook | None] = []


def _fault_inject618() -> FailslabHook | None:
    if not _failslab:
        import importlib
        try:
            mod: FailslabHook | None = importlib.import_module(".fault_inject", __package__)
        except ImportError:
            mod = None
        _failslab.append(mod)
    return _failslab[0]


def should_failslab(sl: SlabAllocator, s: KmemCache, gfp: int) -> bool:
    """mm/failslab.c __should_failslab (6.x): never the bootstrap cache,
    never __GFP_NOFAIL; ignore-gfp-wait spares __GFP_DIRECT_RECLAIM;
    cache-filter: only caches marked `failslab` (sysfs). The 6.18 fault
    injection module decides when it is there."""
    fi = _fault_inject618()
    if fi is not None:
        return fi.should_failslab(sl.faults, fi.SLAB_FAILSLAB if s.failslab else 0, s.object_size, gfp,
                                  bootstrap=s is sl.kmem_cache, task=sl.current)
    attr = sl.faults.failslab
    if s is sl.kmem_cache or gfp & __GFP_NOFAIL:
        return False
    if attr.ignore_gfp_wait and gfp & __GFP_DIRECT_RECLAIM:
        return False
    if attr.cache_filter and not s.failslab:
        return False
    return attr.should_fail(sl.log, s.object_size, bool(gfp & __GFP_NOWARN))


def kmem_cache_alloc(sl: SlabAllocator, s: KmemCache, gfpflags: int) -> int | None:
    """mm/slub.c kmem_cache_alloc: an object's physical address, or None.
    The fast path pops c->freelist (its free pointer, checked, is the new head)."""
    if not sl.slow:
        c = s.cpu_slab[sl.current.cpu]
        obj = c.freelist
        if obj:
            at = obj + s.offset
            words = sl.mem.words
            fp = words[at >> 3] if words is not None and not at & 7 else _unpack_u64(sl.mem.view, at)[0]
            if fp:
                fp -= sl.page_offset
                slab = c.slab
                if slab is None or not slab.addr <= fp < slab.end or fp in s.live:
                    fp = freelist_broken(sl, s, slab, obj)
            c.freelist = fp
            if gfpflags & __GFP_ZERO:
                sl.mem.zero(obj, s.object_size)
            s.live.add(obj)
            return obj
    twin = _twin()
    if twin is not None and _slow_alloc_may_report(sl, s, gfpflags, NUMA_NO_NODE):
        served: int | None = twin.kmem_cache_alloc(sl, s, gfpflags)
        return served
    objp = slab_alloc_node(sl, s, gfpflags, NUMA_NO_NODE, s.object_size)
    hook = sl.trace.hook
    if hook is not None:
        hook("kmem_cache_alloc", s, objp or 0, gfpflags, None)
    return objp


def kmem_cache_alloc_node(sl: SlabAllocator, s: KmemCache, gfpflags: int, node: int) -> int | None:
    """mm/slub.c kmem_cache_alloc_node."""
    twin = _twin()
    if twin is not None and _slow_alloc_may_report(sl, s, gfpflags, node):
        served: int | None = twin.kmem_cache_alloc_node(sl, s, gfpflags, node)
        return served
    objp = slab_alloc_node(sl, s, gfpflags, node, s.object_size)
    hook = sl.trace.hook
    if hook is not None:
        hook("kmem_cache_alloc", s, objp or 0, gfpflags, None)
    return objp


def slab_alloc_node(sl: SlabAllocator, s: KmemCache, gfpflags: int, node: int, orig_size: int
                    ) -> int | None:
    """mm/slub.c slab_alloc_node: failslab, the CPU freelist or ___slab_alloc,
    then slab_post_alloc_hook (__GFP_ZERO clears object_size bytes, or the
    requested size of a kmalloc cache with red zones or tracking)."""
    if sl.faults.failslab_armed and should_failslab(sl, s, gfpflags):
        return None
    c = s.cpu_slab[sl.current.cpu]
    slab = c.slab
    objp: int | None
    if c.freelist and slab is not None and (node == NUMA_NO_NODE or slab.node == node):
        objp = load_freelist(sl, s, c, c.freelist)
    else:
        objp = ___slab_alloc(sl, s, gfpflags, node, c, orig_size)
    if objp is None:
        return None
    if gfpflags & __GFP_ZERO:
        zero_size = s.object_size
        if s.flags & (SLAB_STORE_USER | SLAB_RED_ZONE) and s.flags & SLAB_KMALLOC:
            zero_size = orig_size
        sl.mem.zero(objp, zero_size)
    s.live.add(objp)
    return objp


def load_freelist(sl: SlabAllocator, s: KmemCache, c: KmemCacheCpu, freelist: int) -> int:
    """___slab_alloc's load_freelist: the first object is handed out, the rest
    becomes c->freelist (its free pointer checked)."""
    fp = get_freepointer(sl, s, freelist)
    slab = c.slab
    if fp and (slab is None or not freepointer_ok(s, slab, fp, 0) or fp in s.live):
        fp = freelist_broken(sl, s, slab, freelist)
    c.freelist = fp
    return freelist


def ___slab_alloc(sl: SlabAllocator, s: KmemCache, gfpflags: int, node: int, c: KmemCacheCpu,
                  orig_size: int) -> int | None:
    """mm/slub.c ___slab_alloc: the slow path (see the module docstring)."""
    try_thisnode = True
    debug = s.flags & SLAB_DEBUG_FLAGS
    slab = c.slab
    if slab is not None:
        if node != NUMA_NO_NODE and slab.node != node and node not in sl.slab_nodes:
            node = NUMA_NO_NODE
        if node == NUMA_NO_NODE or slab.node == node:
            freelist = c.freelist
            if not freelist:
                freelist = get_freelist(slab)       # remote frees (ALLOC_REFILL)
                if not freelist:
                    c.slab = None                   # full: on no list (DEACTIVATE_BYPASS)
                    slab = None
            if slab is not None:
                return load_freelist(sl, s, c, freelist)
        else:
            # a node mismatch (ALLOC_NODE_MISMATCH): deactivate_slab
            freelist = c.freelist
            c.slab = None
            c.freelist = 0
            deactivate_slab(sl, s, slab, freelist)
    elif node != NUMA_NO_NODE and node not in sl.slab_nodes:
        node = NUMA_NO_NODE
    # new_slab: the CPU-partial chain
    while c.partial is not None:
        slab = c.partial
        c.partial = slab.pnext
        slab.pnext = None
        if node == NUMA_NO_NODE or slab.node == node:
            c.slab = slab
            freelist = get_freelist(slab)           # CPU_PARTIAL_ALLOC
            return load_freelist(sl, s, c, freelist)
        __put_partials(sl, s, slab)
    while True:     # new_objects
        pc = PartialContext(gfpflags, orig_size)
        if node != NUMA_NO_NODE and not gfpflags & __GFP_THISNODE and try_thisnode:
            pc.flags = GFP_NOWAIT | __GFP_THISNODE
        slab = get_partial(sl, s, node, pc)
        if slab is not None:
            if debug:
                assert pc.object is not None
                if s.flags & SLAB_STORE_USER:
                    _hooks(sl).set_track(sl, s, pc.object, _hooks(sl).TRACK_ALLOC)
                return pc.object
            freelist = freeze_slab(slab)
            break                                   # retry_load_slab
        slab = new_slab(sl, s, pc.flags, node)
        if slab is None:
            if node != NUMA_NO_NODE and not gfpflags & __GFP_THISNODE and try_thisnode:
                try_thisnode = False
                continue
            if not (sl.sched.sleep_ok and sl.sched.sleep_request is not None):
                slab_out_of_memory(sl, s, gfpflags, node)   # (not a sleep the caller retries)
            return None
        if debug:
            obj = alloc_single_from_new_slab(sl, s, slab, orig_size)
            if obj is None:
                continue
            if s.flags & SLAB_STORE_USER:
                _hooks(sl).set_track(sl, s, obj, _hooks(sl).TRACK_ALLOC)
            return obj
        freelist = slab.freelist
        slab.freelist = 0
        slab.inuse = slab.objects
        slab.frozen = True
        inc_slabs_node(s, slab.node, slab.objects)
        break
    # retry_load_slab
    while c.slab is not None:
        flush_freelist = c.freelist
        flush = c.slab
        c.slab = None
        c.freelist = 0
        deactivate_slab(sl, s, flush, flush_freelist)
    c.slab = slab
    return load_freelist(sl, s, c, freelist)


def slab_out_of_memory(sl: SlabAllocator, s: KmemCache, gfpflags: int, nid: int) -> None:
    """mm/slub.c slab_out_of_memory: rate limited (10 per 5 s), not with __GFP_NOWARN."""
    if gfpflags & __GFP_NOWARN:
        return
    now = sl.log.uptime()
    sl.oom_ratelimit = [t for t in sl.oom_ratelimit if now - t < 5.0]
    if len(sl.oom_ratelimit) >= 10:
        return
    sl.oom_ratelimit.append(now)
    cpu = sl.current.cpu
    lines = [f"SLUB: Unable to allocate memory on CPU {cpu} (of node {sl.cpu_node[cpu]}) on node {nid},"
             f" gfp={gfpflags:#x}({gfp_format(gfpflags)})",
             f"  cache: {s.name}, object size: {s.object_size}, buffer size: {s.size}, default order:"
             f" {s.order}, min order: {s.min_order}"]
    if s.min_order > get_order(s.object_size):
        lines.append(f"  {s.name} debugging increased min order, use slab_debug=O to disable.")
    for node, n in s.nodes():
        nr_free = count_partial_free_approx(n)
        lines.append(f"  node {node}: slabs: {n.nr_slabs}, objs: {n.total_objects}, free: {nr_free}")
    sl.log.printk(KERN_WARNING, "\n".join(lines))


# -- free -------------------------------------------------------------------


def virt_to_slab(sl: SlabAllocator, x: int) -> Slab | None:
    if not 0 <= x < sl.mem_size:
        return None
    owner = sl.mem_map[x >> sl.page_shift]
    return owner if isinstance(owner, Slab) else None


def kmem_cache_free(sl: SlabAllocator, s: KmemCache, x: int) -> None:
    """mm/slub.c kmem_cache_free: cache_from_obj (SLAB_FREELIST_HARDENED checks
    the object's cache: a wrong one is WARNed and the object goes to its own),
    the trace event, slab_free. The common case first: an object of this
    CPU's slab, handed out (do_slab_free's fast path)."""
    if not sl.slow:
        c = s.cpu_slab[sl.current.cpu]
        cslab = c.slab
        if cslab is not None and cslab.addr <= x < cslab.end and x in s.live:
            s.live.remove(x)
            head = c.freelist
            at = x + s.offset
            words = sl.mem.words
            if words is not None and not at & 7:
                words[at >> 3] = sl.page_offset + head if head else 0
            else:
                _pack_u64(sl.mem.view, at, sl.page_offset + head if head else 0)
            c.freelist = x
            waiters = sl.free_waiters
            if waiters is not None:
                waiters()
            return
    twin = _free_twin(sl, s, x)
    if twin is not None:
        twin.kmem_cache_free(sl, s, x)
        return
    slab = virt_to_slab(sl, x)
    if slab is None:
        warn_once(sl, "mm/slub.c", LINE_VIRT_TO_CACHE,
                  "virt_to_cache: Object is not a Slab page!")
        return
    if slab.cache is not s:
        warn(sl, "mm/slub.c", LINE_CACHE_FROM_OBJ,
             f"cache_from_obj: Wrong slab cache. {s.name} but object is from {_slab_cache(slab).name}")
        s = _slab_cache(slab)
    hook = sl.trace.hook
    if hook is not None:
        hook("kmem_cache_free", s, x, 0, None)
    slab_free(sl, s, slab, x)


def slab_free(sl: SlabAllocator, s: KmemCache, slab: Slab, x: int) -> None:
    """mm/slub.c slab_free / do_slab_free: onto c->freelist if x is in the
    CPU slab, else __slab_free. Debug caches go to free_to_partial_list, whose
    checks report bad frees; otherwise an object that is not handed out is the
    simulator's report (or, on top of its freelist, SLAB_FREELIST_HARDENED's BUG)."""
    if s.flags & SLAB_DEBUG_FLAGS:
        free_to_partial_list(sl, s, slab, x)
        return
    if x not in s.live:
        bad_free(sl, s, slab, x)
        return
    s.live.remove(x)
    c = s.cpu_slab[sl.current.cpu]
    if slab is c.slab:
        set_freepointer(sl, s, x, c.freelist)
        c.freelist = x
    else:
        __slab_free(sl, s, slab, x)
    waiters = sl.free_waiters
    if waiters is not None:
        waiters()


do_slab_free = slab_free


def bad_free(sl: SlabAllocator, s: KmemCache, slab: Slab, x: int) -> None:
    """A free of an object that is free already, or of no object's start."""
    c = s.cpu_slab[sl.current.cpu]
    head = c.freelist if slab is c.slab else slab.freelist
    if head == x:
        slub_BUG(sl, LINE_SET_FREEPOINTER_BUG)   # naive detection of double free or corruption
        return
    start = slab.addr + s.red_left_pad
    if x < start or (x - start) % s.size:
        slab_sim_bug(sl, f"kfree(0x{_ptr(sl, x)}): not the start of an object of cache `{s.name}'")
    else:
        slab_sim_bug(sl, f"double free of object 0x{_ptr(sl, x)} of cache `{s.name}'")


def __slab_free(sl: SlabAllocator, s: KmemCache, slab: Slab, x: int) -> None:
    """mm/slub.c __slab_free (not debug caches): onto the slab's freelist; a
    full slab goes to the CPU-partial chain, an emptied slab on the node list
    is discarded if the node has min_partial."""
    prior = slab.freelist
    was_frozen = slab.frozen
    set_freepointer(sl, s, x, prior)
    slab.freelist = x
    slab.inuse -= 1
    n: KmemCacheNode | None = None
    on_node_partial = False
    if (not slab.inuse or not prior) and not was_frozen:
        if prior:           # kmem_cache_has_cpu_partial(s) here
            n = s.node[slab.node]
            on_node_partial = slab.on_partial
    if n is None:
        if not was_frozen and not prior:
            put_cpu_partial(sl, s, slab, True)      # CPU_PARTIAL_FREE
        return
    if prior and not on_node_partial:
        return
    if not slab.inuse and n.nr_partial >= s.min_partial:
        if prior:
            remove_partial(n, slab)
        discard_slab(sl, s, slab)


def free_to_partial_list(sl: SlabAllocator, s: KmemCache, slab: Slab, x: int) -> None:
    """mm/slub.c free_to_partial_list (debug caches): free_debug_processing,
    then the object back under the list lock; an empty slab is freed if the
    node has min_partial, whichever list it was on."""
    n = s.node[slab.node]
    assert n is not None
    if not _hooks(sl).free_debug_processing(sl, s, slab, x):
        return
    if x not in s.live:
        # the checks (without F) let a bad free through: the simulator's report
        bad_free(sl, s, slab, x)
        return
    s.live.remove(x)
    prior = slab.freelist
    slab.inuse -= 1
    set_freepointer(sl, s, x, prior)
    slab.freelist = x
    slab_free_ = slab if slab.inuse == 0 and n.nr_partial >= s.min_partial else None
    if not prior:
        remove_full(s, n, slab)
        if slab_free_ is None:
            add_partial(n, slab, DEACTIVATE_TO_TAIL)
    elif slab_free_ is not None:
        remove_partial(n, slab)
    if slab_free_ is not None:
        dec_slabs_node(s, slab.node, slab.objects)
        free_slab(sl, s, slab)
    waiters = sl.free_waiters
    if waiters is not None:
        waiters()


# -- free pointers ----------------------------------------------------------

_u64: Final = struct.Struct("<Q")
# the codec's bound methods, held once: a call through them looks up no method by name
_unpack_u64: Final[Callable[[memoryview, int], tuple[int]]] = _u64.unpack_from
_pack_u64: Final[Callable[[memoryview, int, int], None]] = _u64.pack_into


def get_freepointer(sl: SlabAllocator, s: KmemCache, obj: int) -> int:
    """mm/slub.c get_freepointer: the next free object after obj (physical; 0: none).
    The pointer is stored as the kernel address (page_offset + phys)."""
    at = obj + s.offset
    words = sl.mem.words
    v = words[at >> 3] if words is not None and not at & 7 else _unpack_u64(sl.mem.view, at)[0]
    return v - sl.page_offset if v else 0


def set_freepointer(sl: SlabAllocator, s: KmemCache, obj: int, fp: int) -> None:
    """mm/slub.c set_freepointer (stored unencoded: no SLAB_FREELIST_HARDENED XOR)."""
    at = obj + s.offset
    words = sl.mem.words
    if words is not None and not at & 7:
        words[at >> 3] = sl.page_offset + fp if fp else 0
    else:
        _pack_u64(sl.mem.view, at, sl.page_offset + fp if fp else 0)


def freepointer_ok(s: KmemCache, slab: Slab, fp: int, count: int) -> bool:
    """Is fp an object of slab, with `count` objects before it on the chain?"""
    start = slab.addr + s.red_left_pad
    return start <= fp < slab.end and not (fp - start) % s.size and count < slab.objects


def freelist_broken(sl: SlabAllocator, s: KmemCache, slab: Slab | None, obj: int) -> int:
    """A free pointer that leads out of the slab, into a live object, or round
    in a loop: 6.18 would follow it (and hand out a bad or live object); the
    simulator reports it and ends the freelist at obj (returns 0)."""
    fp = get_freepointer(sl, s, obj)
    slab_sim_bug(sl, f"free pointer of free object 0x{_ptr(sl, obj)} of cache `{s.name}' corrupted"
                     f" (0x{sl.page_offset + fp & 0xFFFFFFFFFFFFFFFF:016x}): the rest of the freelist"
                     " is dropped")
    set_freepointer(sl, s, obj, 0)
    return 0


def freelist_objects(sl: SlabAllocator, s: KmemCache, slab: Slab, head: int) -> list[int]:
    """The objects of a freelist of slab from head (at most slab.objects, stopping at a bad pointer)."""
    out: list[int] = []
    p = head
    while p and freepointer_ok(s, slab, p, len(out)):
        out.append(p)
        p = get_freepointer(sl, s, p)
    return out


# -- shrinking --------------------------------------------------------------


def __kmem_cache_do_shrink(sl: SlabAllocator, s: KmemCache) -> int:
    """mm/slub.c __kmem_cache_do_shrink: free every empty partial slab (min_partial
    or not) and sort the rest: 1..32 free objects first, fewest free first."""
    ret = 0
    for nid, n in s.nodes():
        discard: list[Slab] = []
        promote: list[list[Slab]] = [[] for _ in range(SHRINK_PROMOTE_MAX)]
        for slab in n.partial:
            free = slab.objects - slab.inuse
            if free == slab.objects:
                list_del(slab)
                slab.on_partial = False
                n.nr_partial -= 1
                dec_slabs_node(s, nid, slab.objects)
                discard.append(slab)
            elif free <= SHRINK_PROMOTE_MAX:
                list_del(slab)
                promote[free - 1].append(slab)
        # list_move put each slab at the head of its promote list (so a list is in
        # reverse order of the walk); list_splice(promote + i, &n->partial) from the
        # last puts promote[0] first
        for i in range(SHRINK_PROMOTE_MAX - 1, -1, -1):
            for slab in promote[i]:
                list_add(slab, n.partial)
        for slab in reversed(discard):          # the discard list, also built at its head
            free_slab(sl, s, slab)
        if n.nr_slabs:
            ret = 1
    return ret


def kmem_cache_shrink(sl: SlabAllocator, s: KmemCache) -> int:
    """mm/slab_common.c kmem_cache_shrink = __kmem_cache_shrink: flush_all,
    then __kmem_cache_do_shrink. 0 if every slab was released."""
    twin = _twin()
    if twin is not None:
        left: int = twin.kmem_cache_shrink(sl, s)
        return left
    flush_all(sl, s)
    return __kmem_cache_do_shrink(sl, s)


# -- kmalloc ----------------------------------------------------------------


def kmalloc_fix_flags(sl: SlabAllocator, flags: int) -> int:
    """mm/slab_common.c kmalloc_fix_flags."""
    invalid_mask = flags & GFP_SLAB_BUG_MASK
    flags &= ~GFP_SLAB_BUG_MASK
    sl.log.printk(KERN_WARNING, f"Unexpected gfp: {invalid_mask:#x} ({gfp_format(invalid_mask)}). Fixing up to"
                                f" gfp: {flags:#x} ({gfp_format(flags)}). Fix your code!")
    sl.log.printk(KERN_WARNING, _comm(sl))
    return flags


def kmalloc_type(flags: int) -> int:
    """include/linux/slab.h kmalloc_type: DMA > RECLAIMABLE > ACCOUNT."""
    if not flags & KMALLOC_NOT_NORMAL_BITS:
        return KMALLOC_NORMAL
    if flags & __GFP_DMA:
        return KMALLOC_DMA
    if flags & __GFP_RECLAIMABLE:
        return KMALLOC_RECLAIM
    return KMALLOC_CGROUP


def kmalloc_index(size: int) -> int:
    """mm/slab.h kmalloc_slab's index: size_index up to 192 bytes, then fls(size - 1)."""
    if size <= 192:
        return KMALLOC_SIZE_INDEX[(size - 1) // 8]
    return fls(size - 1)


def kmalloc_slab(sl: SlabAllocator, size: int, flags: int) -> KmemCache | None:
    """mm/slab.h kmalloc_slab: the cache kmalloc(size, flags) uses (None above 8 KiB)."""
    if size <= 0 or size > KMALLOC_MAX_CACHE_SIZE:
        return None
    return sl.kmalloc_caches[kmalloc_type(flags)][kmalloc_index(size)]


def kmem_find_general_cachep(sl: SlabAllocator, size: int, gfp: int) -> KmemCache | None:
    """The cache kmalloc(size, gfp) takes its object from (kmalloc_slab)."""
    return kmalloc_slab(sl, size, gfp)


def find_cache(sl: SlabAllocator, name: str) -> KmemCache | None:
    """The cache called `name` on slab_caches (an alias name finds its target)."""
    for s in sl.slab_caches:
        if s.name == name:
            return s
    for s in sl.slab_caches:
        if name in s.aliases:
            return s
    return None


def kmalloc_size_roundup(sl: SlabAllocator, size: int) -> int:
    """mm/slab_common.c kmalloc_size_roundup: the size kmalloc(size) really gives."""
    if 0 < size <= KMALLOC_MAX_CACHE_SIZE:
        s = kmalloc_slab(sl, size, GFP_KERNEL)
        assert s is not None
        return s.object_size
    if 0 < size <= KMALLOC_MAX_SIZE:
        return sl.page_size << get_order(size)
    return size


def kmalloc(sl: SlabAllocator, size: int, flags: int) -> int | None:
    """kmalloc = __do_kmalloc_node(size, NULL, flags, NUMA_NO_NODE). The
    common case first: the size's cache has a CPU freelist (what
    __do_kmalloc_node's fast path serves, and _kmalloc_twin never hands on)."""
    if 0 < size <= KMALLOC_MAX_CACHE_SIZE and not sl.slow:
        s = sl.kmalloc_caches[kmalloc_type(flags)][kmalloc_index(size)]
        assert s is not None
        c = s.cpu_slab[sl.current.cpu]
        obj = c.freelist
        if obj:
            at = obj + s.offset
            words = sl.mem.words
            fp = words[at >> 3] if words is not None and not at & 7 else _unpack_u64(sl.mem.view, at)[0]
            if fp:
                fp -= sl.page_offset
                cslab = c.slab
                if cslab is None or not cslab.addr <= fp < cslab.end or fp in s.live:
                    fp = freelist_broken(sl, s, cslab, obj)
            c.freelist = fp
            if flags & __GFP_ZERO:
                sl.mem.zero(obj, s.object_size)
            s.live.add(obj)
            return obj
    twin = _kmalloc_twin(sl, size, flags, NUMA_NO_NODE)
    if twin is not None:
        served: int | None = twin.kmalloc(sl, size, flags)
        return served
    return __do_kmalloc_node(sl, size, flags, NUMA_NO_NODE)


def kmalloc_node(sl: SlabAllocator, size: int, flags: int, node: int) -> int | None:
    twin = _kmalloc_twin(sl, size, flags, node)
    if twin is not None:
        served: int | None = twin.kmalloc_node(sl, size, flags, node)
        return served
    return __do_kmalloc_node(sl, size, flags, node)


def __do_kmalloc_node(sl: SlabAllocator, size: int, flags: int, node: int) -> int | None:
    """mm/slub.c __do_kmalloc_node: above 8 KiB the page allocator, 0 is
    ZERO_SIZE_PTR, else an object of the kmalloc cache."""
    if size < 0:
        size &= (1 << 64) - 1           # a size_t
    if size > KMALLOC_MAX_CACHE_SIZE:
        # __kmalloc_large_node_noprof traces, and so does __do_kmalloc_node: a size
        # the compiler does not know gives two kmalloc events (the live 6.18 too)
        ret = __kmalloc_large_node(sl, size, flags, node)
        hook = sl.trace.hook
        if hook is not None:
            hook("kmalloc", None, ret or 0, flags, size)
        return ret
    if not size:
        return ZERO_SIZE_PTR
    s = sl.kmalloc_caches[kmalloc_type(flags)][kmalloc_index(size)]
    assert s is not None
    if not sl.slow and node == NUMA_NO_NODE:
        c = s.cpu_slab[sl.current.cpu]
        obj = c.freelist
        if obj:
            at = obj + s.offset
            words = sl.mem.words
            fp = words[at >> 3] if words is not None and not at & 7 else _unpack_u64(sl.mem.view, at)[0]
            if fp:
                fp -= sl.page_offset
                cslab = c.slab
                if cslab is None or not cslab.addr <= fp < cslab.end or fp in s.live:
                    fp = freelist_broken(sl, s, cslab, obj)
            c.freelist = fp
            if flags & __GFP_ZERO:
                sl.mem.zero(obj, s.object_size)
            s.live.add(obj)
            return obj
    objp = slab_alloc_node(sl, s, flags, node, size)
    hook = sl.trace.hook
    if hook is not None:
        hook("kmalloc", s, objp or 0, flags, size)
    return objp


def __kmalloc_large_node(sl: SlabAllocator, size: int, flags: int, node: int) -> int | None:
    """mm/slub.c __kmalloc_large_node_noprof: pages with __GFP_COMP, counted
    as NR_SLAB_UNRECLAIMABLE_B; the kmalloc event (bytes_alloc PAGE_SIZE << order)."""
    ret = ___kmalloc_large_node(sl, size, flags, node)
    hook = sl.trace.hook
    if hook is not None:
        hook("kmalloc", None, ret or 0, flags, size)
    return ret


def ___kmalloc_large_node(sl: SlabAllocator, size: int, flags: int, node: int) -> int | None:
    from .page_alloc import alloc_pages, mod_node_page_state
    order = get_order(size)
    if flags & GFP_SLAB_BUG_MASK:
        flags = kmalloc_fix_flags(sl, flags)
    flags |= __GFP_COMP
    pfn = alloc_pages(sl.pa, flags, order, None if node == NUMA_NO_NODE else node, KMALLOC_LARGE)
    if pfn is None:
        return None
    addr = pfn << sl.page_shift
    sl.large[addr] = order
    mod_node_page_state(sl.pa, slab_nid(sl, pfn), "nr_slab_unreclaimable_b", sl.page_size << order)
    return addr


def free_large_kmalloc(sl: SlabAllocator, x: int) -> None:
    """mm/slub.c free_large_kmalloc: uncount, folio_put."""
    from .page_alloc import __free_pages, mod_node_page_state
    order = sl.large.pop(x, None)
    if order is None:
        # a page that no kmalloc handed out: the kernel WARNs (order 0) and
        # folio_put()s whatever is there; the simulator leaves it alone
        warn_once(sl, "mm/slub.c", LINE_FREE_LARGE_KMALLOC, None)
        sl.log.printk(KERN_WARNING, f"object pointer: 0x{_ptr(sl, x)}")
        return
    pfn = x >> sl.page_shift
    mod_node_page_state(sl.pa, slab_nid(sl, pfn), "nr_slab_unreclaimable_b", -(sl.page_size << order))
    __free_pages(sl.pa, pfn, order)
    waiters = sl.free_waiters
    if waiters is not None:
        waiters()


def kcalloc_node(sl: SlabAllocator, n: int, size: int, flags: int, node: int) -> int | None:
    """kmalloc_array_node(n, size, flags | __GFP_ZERO, node)."""
    if n < 0 or size < 0 or n * size > (1 << 64) - 1:
        return None
    return kmalloc_node(sl, n * size, flags | __GFP_ZERO, node)


def kzalloc(sl: SlabAllocator, size: int, flags: int) -> int | None:
    """include/linux/slab.h kzalloc: kmalloc with __GFP_ZERO."""
    return kmalloc(sl, size, flags | __GFP_ZERO)


def kcalloc(sl: SlabAllocator, n: int, size: int, flags: int) -> int | None:
    """kmalloc_array(n, size, flags | __GFP_ZERO): NULL if n * size overflows size_t."""
    if n < 0 or size < 0 or n * size > (1 << 64) - 1:
        return None
    return kmalloc(sl, n * size, flags | __GFP_ZERO)


def ksize(sl: SlabAllocator, objp: int | None) -> int:
    """mm/slab_common.c ksize / __ksize / slab_ksize."""
    if not objp or objp <= ZERO_SIZE_PTR:
        return 0
    slab = virt_to_slab(sl, objp)
    if slab is None:
        order = sl.large.get(objp)
        if order is None:
            twin = _twin()
            if twin is not None:
                size: int = twin.ksize(sl, objp)
                return size
            warn(sl, "mm/slab_common.c", LINE_KSIZE, None)
            return 0
        return sl.page_size << order
    return slab_ksize(_slab_cache(slab))


def slab_ksize(s: KmemCache) -> int:
    """mm/slab.h slab_ksize."""
    if s.flags & (SLAB_RED_ZONE | SLAB_POISON):
        return s.object_size
    if s.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_STORE_USER):
        return s.inuse
    return s.size


def kfree(sl: SlabAllocator, objp: int | None) -> None:
    """mm/slub.c kfree: the kfree event first (even for NULL), then a large
    kmalloc's pages or the object to its slab. The common case first: a
    handed-out object of a cache without debugging, untraced (what
    _free_twin keeps here and slab_free frees)."""
    if objp is not None and objp > ZERO_SIZE_PTR and not sl.slow and sl.trace.hook is None:
        slab = virt_to_slab(sl, objp)
        if slab is not None:
            s = _slab_cache(slab)
            if not s.flags & SLAB_DEBUG_FLAGS and objp in s.live:
                s.live.remove(objp)
                c = s.cpu_slab[sl.current.cpu]
                if slab is c.slab:
                    head = c.freelist
                    at = objp + s.offset
                    words = sl.mem.words
                    if words is not None and not at & 7:
                        words[at >> 3] = sl.page_offset + head if head else 0
                    else:
                        _pack_u64(sl.mem.view, at, sl.page_offset + head if head else 0)
                    c.freelist = objp
                else:
                    __slab_free(sl, s, slab, objp)
                waiters = sl.free_waiters
                if waiters is not None:
                    waiters()
                return
    if objp is not None and objp > ZERO_SIZE_PTR or sl.trace.hook is not None:
        twin = _free_twin(sl, None, objp or 0)
        if twin is not None:
            twin.kfree(sl, objp)
            return
    hook = sl.trace.hook
    if hook is not None:
        hook("kfree", None, objp or 0, 0, None)
    if objp is None or objp <= ZERO_SIZE_PTR:
        return
    slab = virt_to_slab(sl, objp)
    if slab is None:
        free_large_kmalloc(sl, objp)
        return
    slab_free(sl, _slab_cache(slab), slab, objp)


# -- queries ----------------------------------------------------------------


def slab_object_is_live(s: KmemCache, objp: int) -> bool:
    """Is objp (an address kmem_cache_alloc returned) handed out and not freed?"""
    return objp in s.live


def cache_partial_slabs(s: KmemCache) -> int:
    """Slabs on the node partial lists."""
    return sum(n.nr_partial for _, n in s.nodes())


def cache_cpu_objects(s: KmemCache) -> int:
    """Free objects held by CPUs: the CPU freelists, the CPU slabs' own
    freelists (remote frees: objects - inuse of a frozen slab) and the
    CPU-partial slabs' free objects."""
    sl = s.allocator
    total = 0
    for c in s.cpu_slab:
        slab = c.slab
        if slab is not None:
            if sl is not None:
                total += len(freelist_objects(sl, s, slab, c.freelist))
            total += slab.objects - slab.inuse
        for p in c.partial_slabs():
            total += p.objects - p.inuse
    return total


def cache_slabs(s: KmemCache) -> int:
    return sum(n.nr_slabs for _, n in s.nodes())


def cache_total_objects(s: KmemCache) -> int:
    return sum(n.total_objects for _, n in s.nodes())


def count_partial_free(s: KmemCache) -> int:
    """Free objects on the node partial lists, counted exactly."""
    return sum(slab.objects - slab.inuse for _, n in s.nodes() for slab in n.partial)


def count_partial(n: KmemCacheNode, get_count: Callable[[Slab], int]) -> int:
    """mm/slub.c count_partial: get_count summed over the node's partial slabs
    (count_free, count_inuse, count_total)."""
    return sum(get_count(slab) for slab in n.partial)


def count_free(slab: Slab) -> int:
    return slab.objects - slab.inuse


def count_inuse(slab: Slab) -> int:
    return slab.inuse


def count_total(slab: Slab) -> int:
    return slab.objects


MAX_PARTIAL_TO_SCAN: Final = 10000


def count_partial_free_approx(n: KmemCacheNode) -> int:
    """mm/slub.c count_partial_free_approx: exact up to 10000 partial slabs,
    else 5000 from the head and 5000 from the tail, scaled (mult_frac) and
    capped at the node's objects."""
    if n.nr_partial <= MAX_PARTIAL_TO_SCAN:
        return sum(slab.objects - slab.inuse for slab in n.partial)
    x = scanned = 0
    for slab in n.partial:
        x += slab.objects - slab.inuse
        scanned += 1
        if scanned == MAX_PARTIAL_TO_SCAN // 2:
            break
    p = n.partial.prev
    while p is not n.partial:
        assert isinstance(p, Slab)
        x += p.objects - p.inuse
        scanned += 1
        if scanned == MAX_PARTIAL_TO_SCAN:
            break
        p = p.prev
    x = (x // scanned) * n.nr_partial + ((x % scanned) * n.nr_partial) // scanned
    return min(x, n.total_objects)


def get_slabinfo(s: KmemCache) -> tuple[int, int, int, int, int, int]:
    """mm/slub.c get_slabinfo: (active_objs, num_objs, active_slabs, num_slabs,
    objects_per_slab, cache_order). Free objects of CPU slabs and CPU-partial
    slabs count as active."""
    nr_slabs = nr_objs = nr_free = 0
    for _, n in s.nodes():
        nr_slabs += n.nr_slabs
        nr_objs += n.total_objects
        nr_free += count_partial_free_approx(n)
    return nr_objs - nr_free, nr_objs, nr_slabs, nr_slabs, s.objects, s.order


def slab_of(sl: SlabAllocator, addr: int) -> Slab | None:
    """The slab whose pages hold physical address addr, or None."""
    return virt_to_slab(sl, addr)


def slab_address(slab: Slab) -> int:
    """mm/slab.h slab_address: the slab's first byte (physical)."""
    return slab.addr


def struct_slab_address(sl: SlabAllocator, slab: Slab) -> int:
    """The kernel address of the slab's struct slab (its head struct page in the vmemmap)."""
    from .page_alloc import struct_page_address
    return struct_page_address(sl.pa, slab.pfn)


def slab_zone_idx(sl: SlabAllocator, slab: Slab) -> int:
    """The index of the zone the slab's pages are in (page_zonenum)."""
    from .page_alloc import page_zone
    return int(page_zone(sl.pa, slab.pfn).idx)


def slab_is_slab_page(sl: SlabAllocator, slab: Slab) -> bool:
    """folio_test_slab: are the slab's pages still this slab's?"""
    return 0 <= slab.pfn < len(sl.mem_map) and sl.mem_map[slab.pfn] is slab


def node_partial_slabs(n: KmemCacheNode) -> Iterator[Slab]:
    """list_for_each_entry(slab, &n->partial, slab_list)."""
    return iter(n.partial)


def node_full_slabs(n: KmemCacheNode) -> Iterator[Slab]:
    """list_for_each_entry(slab, &n->full, slab_list) (SLAB_STORE_USER caches)."""
    return iter(n.full)


def cache_nodes(s: KmemCache) -> list[KmemCacheNode]:
    """for_each_kmem_cache_node: the node structures."""
    return [n for _, n in s.nodes()]
