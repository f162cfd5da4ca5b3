"""The rest of the kernel, as far as memory is concerned: the caches a real
machine has filled by the time anyone looks (dentries, inodes, buffer heads).

They make slabinfo look like a machine's and give reclaim something to take.
Their objects can only be reclaimed by what they need: dentries and inodes by
__GFP_FS (prune_dcache/prune_icache are filesystem work), buffer heads by
__GFP_IO (writeback). So a GFP_NOFS or GFP_NOIO allocation can fail where
GFP_KERNEL succeeds.
"""
from __future__ import annotations

from . import gfp as G
from .printk import KERN_INFO
from .slab import SLAB_MEM_SPREAD, SLAB_PANIC, SLAB_RECLAIM_ACCOUNT

# name, object size on i386 2.6.18, flags, reclaimed by, share of the population
BACKGROUND_CACHES = (
    ("dentry_cache", 132, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD, "fs", 0.45),
    ("inode_cache", 344, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD, "fs", 0.35),
    ("buffer_head", 52, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD, "io", 0.20),
)


def _ctor(k, objp, cachep, flags):
    """Constructors of inode_cache/buffer_head just clear the object here."""
    k.mem.zero(objp, cachep.obj_size)


def _shrink_background(k, cachep, gfp_mask) -> int:
    """A shrinker (prune_dcache and friends): free half of the cache's unused
    objects, newest first, so whole slabs empty out. drop_caches frees all."""
    objs = k.background.get(cachep)
    if not objs:
        return 0
    n = len(objs) if gfp_mask == G.GFP_KERNEL and k.dropping_caches else max(1, len(objs) // 2)
    victims = objs[-n:]
    del objs[-n:]
    for objp in victims:
        k.kmem_cache_free(cachep, objp)
    return n


def populate_background(k, percent: float) -> None:
    """Create the background caches and fill them with `percent` of lowmem."""
    k.background = {}
    lowmem_bytes = sum(z.managed for z in k.zones if not z.is_highmem) * 4096
    budget = lowmem_bytes * percent / 100
    for name, size, flags, reclaim, share in BACKGROUND_CACHES:
        ctor = None if name == "dentry_cache" else _ctor
        cachep = k.kmem_cache_create(name, size, 0, flags, ctor)
        cachep.reclaim = reclaim
        cachep.shrinker = _shrink_background
        objs = k.background[cachep] = []
        for _ in range(int(budget * share) // cachep.buffer_size):
            objp = k.kmem_cache_alloc(cachep, G.GFP_KERNEL | G.__GFP_NOWARN)
            if objp is None:
                break
            objs.append(objp)
        k.log.printk(KERN_INFO, f"{name}: {len(objs)} objects at boot")
