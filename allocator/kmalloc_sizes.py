"""The general caches of 2.6 include/linux/kmalloc_sizes.h.

With 4 KiB pages and a 64-byte L1 line the classes are size-32 ... size-131072
(no 96 or 192), each with a `size-N(DMA)` twin. A request takes the smallest class that fits; nothing above
128 KiB.
"""
from __future__ import annotations

import bisect

KMALLOC_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
KMALLOC_MAX_SIZE = KMALLOC_SIZES[-1]
# size -> index of its general cache, for every size up to 128 KiB (one lookup)
SIZE_INDEX = bytes(bisect.bisect_left(KMALLOC_SIZES, n) for n in range(KMALLOC_MAX_SIZE + 1))
