"""The rest of the kernel, as far as memory is concerned: the caches a real
machine has filled by the time anyone looks (dentries, inodes, buffer heads).

They make slabinfo look like a machine's and give reclaim something to take.
Their objects are reclaimed by shrinkers registered with vmscan, and only with
what those need: dentries and inodes need __GFP_FS (shrink_dcache_memory and
shrink_icache_memory return -1 without it), buffer heads __GFP_IO. 2.6.18 has
no buffer_head shrinker (buffer heads go with their page cache pages in
shrink_page_list, which needs __GFP_IO to write them back); with no page cache
here a shrinker stands in for that (docs/deviations.md). So a GFP_NOFS or
GFP_NOIO allocation can fail where GFP_KERNEL succeeds.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from . import slab as SL
from .gfp import __GFP_FS, __GFP_IO, __GFP_NOWARN, GFP_KERNEL
from .printk import KERN_INFO
from .slab_flags import SLAB_MEM_SPREAD, SLAB_PANIC, SLAB_RECLAIM_ACCOUNT
from .vmscan import DEFAULT_SEEKS, Shrinker, Vmscan, register_shrinker

VFS_CACHE_PRESSURE = 100     # sysctl_vfs_cache_pressure (fs/dcache.c)
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


def prune(s: SL.SlabAllocator, bg: Background, cachep: SL.KmemCache, nr: int) -> None:
    """prune_dcache / prune_icache (2.6.18): free `nr` unused objects from the
    tail of the unused list, the least recently used first. The objects go
    back through kmem_cache_free; their slabs return to the page allocator only
    as SLAB frees them (free_block over the free limit, cache_reap)."""
    objs = bg.objects.get(cachep)
    if not objs:
        return
    victims = objs[:nr]
    del objs[:nr]
    for objp in victims:
        SL.kmem_cache_free(s, cachep, objp)


def shrink_background(s: SL.SlabAllocator, bg: Background, cachep: SL.KmemCache, needs: int,
                      nr: int, gfp_mask: int) -> int:
    """The shrinker function of one background cache: fs/dcache.c
    shrink_dcache_memory and fs/inode.c shrink_icache_memory (2.6.18): with
    nr_to_scan, -1 without the GFP bits they need, else prune; return
    (nr_unused / 100) * sysctl_vfs_cache_pressure (100)."""
    if nr:
        if needs & ~gfp_mask:
            return -1
        prune(s, bg, cachep, nr)
    return (len(bg.objects.get(cachep, ())) // 100) * VFS_CACHE_PRESSURE


def pruner(s: SL.SlabAllocator, bg: Background, cachep: SL.KmemCache,
           needs: int) -> Callable[[int, int], int]:
    """shrink_background bound to one cache: a partial, not a closure, so that
    _pure.select can bind it to the pure twin's function while frames are read."""
    return partial(shrink_background, s, bg, cachep, needs)


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
        register_shrinker(vmscan, Shrinker(name, pruner(s, bg, cachep, needs), DEFAULT_SEEKS))
        s.log.printk(KERN_INFO, f"{name}: {len(objs)} objects at boot")
    return bg
