"""What every kernel version's parts have in common, as the Kernel sees them.

Each version brings its own page allocator and slab allocator (2.6.18:
page_alloc.py and slab.py; 6.18: linux618/page_alloc.py and linux618/slub.py),
with their own state classes. The Kernel and the filesystem side reach them
only through these Protocols: the fields both versions' classes have under the
same name. A renderer of one version that needs its version's own fields asks
for them by narrowing (kernel.page_alloc_2618(k), kernel.slab_2618(k), and the
6.18 equivalents beside them).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class MemMap(Protocol):
    """mem_map: pfn -> the frame's owner (None when free). 2.6.18 keeps a
    list; 6.18 a sparse map (host memory proportional to the pages touched)."""
    def __getitem__(self, pfn: int, /) -> object: ...
    def __len__(self) -> int: ...


class NodePart(Protocol):
    kswapd_woken: bool      # wakeup_kswapd woke it; kswapd_run runs balance_pgdat

    @property
    def id(self) -> int: ...
    @property
    def cpus(self) -> Sequence[int]: ...


class ZonePart(Protocol):
    @property
    def node(self) -> NodePart: ...
    @property
    def idx(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def start_pfn(self) -> int: ...
    @property
    def spanned(self) -> int: ...
    @property
    def present(self) -> int: ...
    @property
    def managed(self) -> int: ...
    @property
    def free_pages(self) -> int: ...
    @property
    def free_area(self) -> Sequence[Any]: ...   # per order: 2.6.18 a pfn dict, 6.18 a FreeArea


class PageAllocatorPart(Protocol):
    """The page allocator's state (2.6.18 page_alloc.PageAllocator, 6.18
    linux618.page_alloc.PageAllocator): what the Kernel reads and sets."""
    slow: bool
    kswapd_wake: Callable[[int], None] | None
    alloc_order: dict[int, int]     # head pfn of an allocated block -> its order

    @property
    def nodes(self) -> Sequence[NodePart]: ...
    @property
    def zones(self) -> Sequence[ZonePart]: ...
    @property
    def mem_map(self) -> MemMap: ...
    @property
    def nr_pages(self) -> int: ...
    @property
    def page_shift(self) -> int: ...
    @property
    def min_free_kbytes(self) -> int: ...
    @property
    def totalram_pages(self) -> int: ...


class CachePart(Protocol):
    """A slab cache (struct kmem_cache) of either allocator."""
    @property
    def name(self) -> str: ...
    @property
    def flags(self) -> int: ...
    @property
    def align(self) -> int: ...
    @property
    def live(self) -> Collection[int]: ...   # handed out (SLAB: a set view kept in its slabs)
    @property
    def kmalloc(self) -> bool: ...


class SlabAllocatorPart(Protocol):
    """The slab allocator's state (2.6.18 SLAB, 6.18 SLUB): what the Kernel sets."""
    slow: bool


@dataclass(frozen=True)
class CacheGeometry:
    """One cache's shape as /proc/slabinfo shows it, in either allocator's
    terms: object_size is what the creator asked for (SLAB obj_size, SLUB
    object_size); size the slot one object takes (SLAB buffer_size, SLUB
    size, the slabinfo <objsize> column); objs_per_slab and order the slab's
    (SLAB num/gfporder, SLUB oo); tunables SLAB's limit, batchcount, shared
    (0 0 0 on SLUB)."""
    name: str
    object_size: int
    size: int
    align: int
    objs_per_slab: int
    order: int
    tunables: tuple[int, int, int]

    @property
    def pages_per_slab(self) -> int:
        return 1 << self.order


class MempoolPart(Protocol):
    """mempool_t of either version: its reserve (the list's end is the top)."""
    @property
    def min_nr(self) -> int: ...
    @property
    def curr_nr(self) -> int: ...
    @property
    def elements(self) -> list[Any]: ...
    # statistics: how often the reserve served, was refilled, made a caller sleep
    @property
    def from_allocator(self) -> int: ...
    @property
    def from_reserve(self) -> int: ...
    @property
    def refills(self) -> int: ...
    @property
    def sleeps(self) -> int: ...


class VmAreaPart(Protocol):
    """struct vm_struct of either version."""
    @property
    def addr(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def nr_pages(self) -> int: ...


class VmallocPart(Protocol):
    """mm/vmalloc.c's state of either version: where the area lies."""
    @property
    def vmalloc_start(self) -> int: ...
    @property
    def vmalloc_end(self) -> int: ...


class GfpVocabulary(Protocol):
    """A version's gfp module (allocator/gfp.py, allocator/linux618/gfp.py):
    its values, and how the version parses and prints a mask."""
    GFP_KERNEL: int
    GFP_ATOMIC: int
    GFP_DMA: int
    BITS: dict[str, int]
    COMPOSITES: dict[str, int]

    def gfp_parse(self, text: str) -> int: ...
    def gfp_format(self, mask: int) -> str: ...


@dataclass(frozen=True)
class SlabFlags:
    """A version's SLAB_* cache flags (include/linux/slab.h): 2.6.18's
    SLAB_HWCACHE_ALIGN is 0x2000, 6.18's enum-generated one 0x10."""
    names: Mapping[str, int]

    @property
    def SLAB_HWCACHE_ALIGN(self) -> int:
        return self.names["SLAB_HWCACHE_ALIGN"]

    def parse(self, text: str) -> int:
        """`SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA` or a number; ValueError naming a bad token."""
        flags = 0
        for token in text.split("|"):
            token = token.strip()
            if not token:
                continue
            if token in self.names:
                flags |= self.names[token]
                continue
            try:
                flags |= int(token, 0)
            except ValueError:
                raise ValueError(f"unknown slab flag {token!r}") from None
        return flags
