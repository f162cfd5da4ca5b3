"""The rest of the kernel, as far as memory is concerned: the caches a real
machine has filled by the time anyone looks (dentries, inodes, buffer heads).

They make slabinfo look like a machine's and give reclaim something to take.
Their objects are reclaimed by shrinkers registered with vmscan, and only with
what those need: dentries and inodes need __GFP_FS (prune_dcache/prune_icache
are filesystem work), buffer heads __GFP_IO (writeback). So a GFP_NOFS or
GFP_NOIO allocation can fail where GFP_KERNEL succeeds.
"""
from __future__ import annotations

from collections.abc import Callable

from . import slab as SL
from .gfp import __GFP_FS, __GFP_IO, __GFP_NOWARN, GFP_KERNEL
from .printk import KERN_INFO
from .slab_flags import SLAB_MEM_SPREAD, SLAB_PANIC, SLAB_RECLAIM_ACCOUNT
from .vmscan import Shrinker, Vmscan, register_shrinker
from .vmstat import nr_slab_pages

_FLAGS = SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD
# name, object size on i386 2.6.18, flags, GFP bits its shrinker needs, share of the population
BACKGROUND_CACHES = (
    ("dentry_cache", 132, _FLAGS, __GFP_FS, 0.45),
    ("inode_cache", 344, _FLAGS, __GFP_FS, 0.35),
    ("buffer_head", 52, _FLAGS, __GFP_IO, 0.20),
)


class Background:
    """The background caches and their unused objects, oldest first."""

    def __init__(self) -> None:
        self.objects: dict[SL.KmemCache, list[int]] = {}


def _ctor(s: SL.SlabAllocator, objp: int, cachep: SL.KmemCache, flags: int) -> None:
    """Constructor of inode_cache/buffer_head: here it just clears the object."""
    s.mem.zero(objp, cachep.obj_size)


def prune(s: SL.SlabAllocator, bg: Background, cachep: SL.KmemCache, drop: bool) -> int:
    """A shrinker (prune_dcache and friends): free half of the cache's unused
    objects, newest first, so whole slabs empty out (drop_caches: all), then
    give the emptied slabs back. Returns the slab pages freed."""
    before = nr_slab_pages(s.vmstat)
    objs = bg.objects.get(cachep)
    if objs:
        n = len(objs) if drop else max(1, len(objs) // 2)
        victims = objs[-n:]
        del objs[-n:]
        for objp in victims:
            SL.kmem_cache_free(s, cachep, objp)
    SL.kmem_cache_shrink(s, cachep)
    return before - nr_slab_pages(s.vmstat)


def pruner(s: SL.SlabAllocator, bg: Background, cachep: SL.KmemCache) -> Callable[[int, bool], int]:
    """The shrinker function of one background cache."""
    def shrink(gfp_mask: int, drop: bool) -> int:
        return prune(s, bg, cachep, drop)
    return shrink


def populate_background(s: SL.SlabAllocator, vmscan: Vmscan, percent: float) -> Background:
    """Create the background caches, fill them with `percent` of lowmem and
    register their shrinkers."""
    bg = Background()
    lowmem_bytes = sum(z.managed for z in s.page_alloc.zones if not z.is_highmem) * s.page_size
    budget = lowmem_bytes * percent / 100
    for name, size, flags, needs, share in BACKGROUND_CACHES:
        ctor = None if name == "dentry_cache" else _ctor
        cachep = SL.kmem_cache_create(s, name, size, 0, flags, ctor)
        assert cachep is not None  # SLAB_PANIC
        cachep.has_shrinker = True
        objs = bg.objects[cachep] = []
        for _ in range(int(budget * share) // cachep.buffer_size):
            objp = SL.kmem_cache_alloc(s, cachep, GFP_KERNEL | __GFP_NOWARN)
            if objp is None:
                break
            objs.append(objp)
        register_shrinker(vmscan, Shrinker(name, pruner(s, bg, cachep), needs))
        s.log.printk(KERN_INFO, f"{name}: {len(objs)} objects at boot")
    return bg
