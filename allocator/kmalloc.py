"""kmalloc and friends on the general caches (2.6 include/linux/kmalloc_sizes.h).

With 4 KiB pages and a 64-byte L1 line the classes are size-32 ... size-131072
(no 96 or 192), each with a `size-N(DMA)` twin. A request takes the smallest class
that fits, so it wastes less than half; nothing above 128 KiB.
"""
from __future__ import annotations

import bisect
from typing import Optional

from .gfp import F
from .physmem import PAGE_SHIFT
from .printk import KERN_WARNING
from .slab import SLAB_CACHE_DMA, SLAB_HWCACHE_ALIGN, SLAB_PANIC, KmemCache, Slab

KMALLOC_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
KMALLOC_MAX_SIZE = KMALLOC_SIZES[-1]
# size -> index of its general cache, for every size up to 128 KiB (one lookup)
_SIZE_INDEX = bytes(bisect.bisect_left(KMALLOC_SIZES, n) for n in range(KMALLOC_MAX_SIZE + 1))
INT_MAX = 0x7FFFFFFF


class KmallocMixin:
    def _kmalloc_init(self) -> None:
        """kmem_cache_init: the general caches, in size order (newest first in the chain)."""
        self.malloc_sizes: list[KmemCache] = []
        self.malloc_sizes_dma: list[KmemCache] = []
        for size in KMALLOC_SIZES:
            normal = self.kmem_cache_create(f"size-{size}", size, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC)
            normal.kmalloc = True
            self.malloc_sizes.append(normal)
            dma = self.kmem_cache_create(f"size-{size}(DMA)", size, 0,
                                         SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_PANIC)
            dma.kmalloc = True
            self.malloc_sizes_dma.append(dma)

    def kmalloc_cache_for(self, size: int, flags: int) -> Optional[KmemCache]:
        """__find_general_cachep: the cache kmalloc(size, flags) uses, or None.
        (During kmem_cache_init off-slab caches may ask before all exist.)"""
        i = bisect.bisect_left(KMALLOC_SIZES, size)
        table = self.malloc_sizes_dma if flags & F.DMA else self.malloc_sizes
        if i >= len(table):
            return None
        return table[i]

    def kmalloc(self, size: int, flags: int):
        """Return the physical address of at least `size` physically contiguous
        bytes, or None. Contents are stale unless __GFP_ZERO. __GFP_HIGHMEM and
        sizes above 128 KiB are refused with a log line."""
        # kmalloc(0) is a size-32 object in 2.6.18 (ZERO_SIZE_PTR came in 2.6.22)
        try:
            i = _SIZE_INDEX[size]
        except (IndexError, TypeError):
            i = None
        if i is None or size < 0:
            self.log.printk(KERN_WARNING, f"{self.current.comm}: kmalloc({size}) is larger than"
                                          f" the largest general cache (size-{KMALLOC_MAX_SIZE})")
            return None
        cachep = (self.malloc_sizes_dma if flags & F.DMA else self.malloc_sizes)[i]
        objp = self.kmem_cache_alloc(cachep, flags)
        if objp is not None and self.trace_hook:
            self.trace_hook("kmalloc", cachep, objp, flags, size)
        return objp

    def kzalloc(self, size: int, flags: int):
        return self.kmalloc(size, flags | F.ZERO)

    def kcalloc(self, n: int, size: int, flags: int):
        """Zeroed array of n elements; None if n * size overflows an int."""
        if n != 0 and size > INT_MAX // n:
            return None
        return self.kzalloc(n * size, flags)

    def ksize(self, objp) -> int:
        """The usable size of a kmalloc'd object (its cache's object size)."""
        if not objp:
            return 0
        owner = self.mem_map[objp >> PAGE_SHIFT] if 0 <= objp < self.mem.size else None
        if not isinstance(owner, Slab):
            self._slab_bug(f"ksize({objp:#x}): not a slab object")
            return 0
        return owner.cache.obj_size

    def kfree(self, objp) -> None:
        """Free kmalloc'd memory; kfree(None) does nothing. A pointer that is not
        a live slab object is a logged BUG, never a crash."""
        if not objp:
            return
        try:
            cachep = self.mem_map[objp >> PAGE_SHIFT].cache if objp > 0 else None
        except (IndexError, AttributeError):
            cachep = None
        if cachep is None:
            self._slab_bug(f"kfree({objp:#x}): pointer is not from kmalloc")
            return
        if self.trace_hook and objp in cachep.live:
            self.trace_hook("kfree", cachep, objp, 0)
        self.kmem_cache_free(cachep, objp)
