"""The SLAB_* cache flags and constructor flags of 2.6.18 include/linux/slab.h,
mm/slab.c's CREATE_MASK, and their text form.

SLAB_NO_REAP (0x1000) left the kernel in 2.6.17; it is kept with LDD3's 2.6.10
meaning (cache_reap skips the cache) and accepted by kmem_cache_create: a
deliberate deviation (docs/deviations.md, SLAB)."""
from __future__ import annotations

from typing import Final

SLAB_DEBUG_FREE: Final = 0x00000100
SLAB_DEBUG_INITIAL: Final = 0x00000200
SLAB_RED_ZONE: Final = 0x00000400
SLAB_POISON: Final = 0x00000800
SLAB_NO_REAP: Final = 0x00001000
SLAB_HWCACHE_ALIGN: Final = 0x00002000
SLAB_CACHE_DMA: Final = 0x00004000
SLAB_MUST_HWCACHE_ALIGN: Final = 0x00008000
SLAB_STORE_USER: Final = 0x00010000
SLAB_RECLAIM_ACCOUNT: Final = 0x00020000
SLAB_PANIC: Final = 0x00040000
SLAB_DESTROY_BY_RCU: Final = 0x00080000
SLAB_MEM_SPREAD: Final = 0x00100000
CFLGS_OFF_SLAB: Final = 0x80000000    # mm/slab.c: management off the slab
# mm/slab.c CREATE_MASK (2.6.18): without DEBUG the debugging flags are not
# legal ("a caller might be expecting debug support which isn't available");
# SLAB_DEBUG_FREE is in neither. SLAB_NO_REAP is the simulator's addition.
CREATE_MASK: Final = (SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_MUST_HWCACHE_ALIGN
               | SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_DESTROY_BY_RCU | SLAB_MEM_SPREAD
               | SLAB_NO_REAP)
CREATE_MASK_DEBUG: Final = (CREATE_MASK | SLAB_DEBUG_INITIAL | SLAB_RED_ZONE | SLAB_POISON
                     | SLAB_STORE_USER)
SLAB_FLAG_NAMES = {
    "SLAB_DEBUG_FREE": SLAB_DEBUG_FREE, "SLAB_DEBUG_INITIAL": SLAB_DEBUG_INITIAL,
    "SLAB_RED_ZONE": SLAB_RED_ZONE, "SLAB_POISON": SLAB_POISON, "SLAB_NO_REAP": SLAB_NO_REAP,
    "SLAB_HWCACHE_ALIGN": SLAB_HWCACHE_ALIGN, "SLAB_CACHE_DMA": SLAB_CACHE_DMA,
    "SLAB_MUST_HWCACHE_ALIGN": SLAB_MUST_HWCACHE_ALIGN, "SLAB_STORE_USER": SLAB_STORE_USER,
    "SLAB_RECLAIM_ACCOUNT": SLAB_RECLAIM_ACCOUNT, "SLAB_PANIC": SLAB_PANIC,
    "SLAB_DESTROY_BY_RCU": SLAB_DESTROY_BY_RCU, "SLAB_MEM_SPREAD": SLAB_MEM_SPREAD,
}
SLAB_DEBUG_FLAGS: Final = SLAB_POISON | SLAB_RED_ZONE | SLAB_STORE_USER

# constructor flags
SLAB_CTOR_CONSTRUCTOR: Final = 0x001
SLAB_CTOR_ATOMIC: Final = 0x002
SLAB_CTOR_VERIFY: Final = 0x004


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
