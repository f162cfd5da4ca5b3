"""The general caches of 2.6.18 include/linux/kmalloc_sizes.h.

    #if (PAGE_SIZE == 4096)  CACHE(32)  #endif
    CACHE(64)
    #if L1_CACHE_BYTES < 64  CACHE(96)  #endif
    CACHE(128)
    #if L1_CACHE_BYTES < 128 CACHE(192) #endif
    CACHE(256) ... CACHE(131072)

With 4 KiB pages and i386's 64-byte L1 line (CONFIG_X86_L1_CACHE_SHIFT=6)
the classes are size-32, 64, 128, 192, 256, ... size-131072 (no size-96),
each with a `size-N(DMA)` twin. A request takes the smallest class that fits
(__find_general_cachep); nothing above 128 KiB.
"""
from __future__ import annotations

import bisect
from typing import Final

PAGE_SIZE: Final = 4096
L1_CACHE_BYTES: Final = 64


def kmalloc_sizes(page_size: int = PAGE_SIZE, l1_cache_bytes: int = L1_CACHE_BYTES) -> tuple[int, ...]:
    """The CACHE(x) lines of kmalloc_sizes.h for a page size and L1 line (CONFIG_MMU)."""
    sizes = [32] if page_size == 4096 else []
    sizes.append(64)
    if l1_cache_bytes < 64:
        sizes.append(96)
    sizes.append(128)
    if l1_cache_bytes < 128:
        sizes.append(192)
    sizes += [256 << i for i in range(10)]      # 256 ... 131072
    return tuple(sizes)


KMALLOC_SIZES = kmalloc_sizes()
KMALLOC_MAX_SIZE = KMALLOC_SIZES[-1]
# size -> index of its general cache, for every size up to 128 KiB (one lookup)
SIZE_INDEX = bytes(bisect.bisect_left(KMALLOC_SIZES, n) for n in range(KMALLOC_MAX_SIZE + 1))
