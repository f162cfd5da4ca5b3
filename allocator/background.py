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

Each version names its caches (BACKGROUND_2618, BACKGROUND_618: names, object
sizes and flags as that kernel's fs/ creates them) and the slab module they
are created with; __GFP_FS and __GFP_IO have the same values in both.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

from . import slab as SL
from .gfp import __GFP_FS, __GFP_IO
from .printk import KERN_INFO
from .slab_flags import SLAB_MEM_SPREAD, SLAB_PANIC, SLAB_RECLAIM_ACCOUNT
from .vmscan import DEFAULT_SEEKS, Shrinker, Vmscan, register_shrinker

VFS_CACHE_PRESSURE = 100     # sysctl_vfs_cache_pressure (fs/dcache.c)


@dataclass(frozen=True)
class BackgroundCache:
    """One cache: its name, object size and flags as the version's fs/ creates
    it, the GFP bits its shrinker needs, its share of the population, whether
    it has a constructor, and (useroffset, usersize) (6.x KMEM_CACHE_USERCOPY)."""
    name: str
    size: int
    flags: int
    needs: int
    share: float
    ctor: bool
    usercopy: tuple[int, int] = (0, 0)


_FLAGS = SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD
# i386 2.6.18: fs/dcache.c, fs/inode.c, fs/buffer.c
BACKGROUND_2618 = (
    BackgroundCache("dentry_cache", 132, _FLAGS, __GFP_FS, 0.45, False),
    BackgroundCache("inode_cache", 344, _FLAGS, __GFP_FS, 0.35, True),
    BackgroundCache("buffer_head", 52, _FLAGS, __GFP_IO, 0.20, True),
)
BACKGROUND_CACHES = BACKGROUND_2618


class Background:
    """The background caches and their unused objects, oldest first."""

    def __init__(self) -> None:
        self.objects: dict[Any, list[int]] = {}


def _ctor_2618(s: SL.SlabAllocator, objp: int, cachep: SL.KmemCache, flags: int) -> None:
    """Constructor of inode_cache/buffer_head: here it just clears the object."""
    s.mem.zero(objp, cachep.obj_size)


def prune(m: ModuleType, s: Any, bg: Background, cachep: Any, nr: int) -> None:
    """prune_dcache / prune_icache (2.6.18; 6.x list_lru walks do the same for
    this purpose): free `nr` unused objects from the tail of the unused list,
    the least recently used first. The objects go back through
    kmem_cache_free; their slabs return to the page allocator only as the slab
    allocator frees them (SLAB: free_block over the free limit, cache_reap;
    SLUB: an empty slab beyond min_partial)."""
    objs = bg.objects.get(cachep)
    if not objs:
        return
    victims = objs[:nr]
    del objs[:nr]
    for objp in victims:
        m.kmem_cache_free(s, cachep, objp)


def shrink_background(m: ModuleType, s: Any, bg: Background, cachep: Any, needs: int,
                      nr: int, gfp_mask: int) -> int:
    """The shrinker function of one background cache: fs/dcache.c
    shrink_dcache_memory and fs/inode.c shrink_icache_memory (2.6.18): with
    nr_to_scan, -1 without the GFP bits they need, else prune; return
    (nr_unused / 100) * sysctl_vfs_cache_pressure (100)."""
    if nr:
        if needs & ~gfp_mask:
            return -1
        prune(m, s, bg, cachep, nr)
    return (len(bg.objects.get(cachep, ())) // 100) * VFS_CACHE_PRESSURE


def pruner(m: ModuleType, s: Any, bg: Background, cachep: Any, needs: int) -> Callable[[int, int], int]:
    """shrink_background bound to one cache: a partial, not a closure, so that
    _pure.select can bind it (and the slab module `m` it frees through) to the
    pure twin's while frames are read."""
    return partial(shrink_background, m, s, bg, cachep, needs)


def populate_background(s: Any, vmscan: Vmscan, percent: float, m: ModuleType = SL,
                        caches: Sequence[BackgroundCache] = BACKGROUND_2618,
                        gfp: int = 0xD0 | 0x200) -> Background:
    """Create the background caches with slab module `m` (SLAB's by default),
    fill them with `percent` of lowmem (allocating with `gfp`:
    GFP_KERNEL|__GFP_NOWARN in the version's values) and register their shrinkers."""
    bg = Background()
    lowmem_bytes = sum(z.managed for z in s.page_alloc.zones if z.name != "HighMem") * s.page_size
    budget = lowmem_bytes * percent / 100
    for c in caches:
        cachep: Any   # SLAB's or SLUB's KmemCache (compiled, a narrower inferred type is checked)
        if m is SL:
            ctor: Any = _ctor_2618 if c.ctor else None
            cachep = SL.kmem_cache_create(s, c.name, c.size, 0, c.flags, ctor)
        else:
            size = c.size

            def ctor_6x(objp: int, size: int = size) -> None:   # init_once and its like
                s.mem.zero(objp, size)
            create = getattr(m, "__kmem_cache_create_args")
            cachep = create(s, c.name, c.size, 0, c.flags, ctor_6x if c.ctor else None, *c.usercopy)
        assert cachep is not None  # SLAB_PANIC
        if hasattr(cachep, "has_shrinker"):
            cachep.has_shrinker = True
        objs = bg.objects[cachep] = []
        for _ in range(int(budget * c.share) // cachep.buffer_size):   # SLAB buffer_size, SLUB size
            objp = m.kmem_cache_alloc(s, cachep, gfp)
            if objp is None:
                break
            objs.append(objp)
        register_shrinker(vmscan, Shrinker(c.name, pruner(m, s, bg, cachep, c.needs), DEFAULT_SEEKS))
        s.log.printk(KERN_INFO, f"{c.name}: {len(objs)} objects at boot")
    return bg
