"""What each simulated kernel version is made of (SPEC §8).

A version is one declaration: its release string, its architecture (arch/),
and the modules of its parts. The Kernel builds each part from its module and
binds the API from the same modules, by the kernel's function names:

  page_alloc  `PageAllocator(arch, mem, log, sched, vmstat, faults, trace,
              vmscan, nr_nodes)`, `alloc_pages`, `__get_free_pages`,
              `__free_pages`, `free_pages`, `show_mem`, ... (mm/page_alloc.c)
  slab        `SlabAllocator(arch, page_alloc, log, sched, vmstat, faults,
              trace, vmscan, debug)`, `kmem_cache_init`, `kmem_cache_create`,
              `kmem_cache_alloc`, ..., `kmalloc`, `kfree`, `ksize`; SLAB's
              `cache_reap`, `slabinfo_write`, `do_tune_cpucache` only where the
              allocator has them (SLUB has none of the three)
  gfp         the GFP vocabulary: bit values, composites, gfp_parse/gfp_format
  procfs      the /proc renderers (slabinfo, meminfo, zoneinfo, vmstat,
              buddyinfo, vmallocinfo, kmsg, numastat; pagetypeinfo from 2.6.24)
  sysfs       /sys/kernel/slab/<cache>/ as the version has it (None: 2.6.18
              has no such directory; the mount shows SLUB-style files over SLAB)
  mempool, vmalloc  `Mempools(slab, page_alloc, log, sched)`,
              `Vmalloc(arch, page_alloc, slab, mem, log)` and their functions
  trace       the kmem trace event formats (`Tracer`)
  fault_inject  `FaultInject(log)` and the debugfs knobs it has

`geometry` and `caches` read a cache's shape and the cache list in the slab
allocator's own terms, for what is common to both (parts.CacheGeometry).
Adding a version adds its files and one entry in VERSIONS; it edits no other
version's parts.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import fault_inject, mempool, page_alloc, procfs, slab, trace, vmalloc
from . import gfp as gfp_2618
from .arch import Arch
from .arch.i386 import I386
from .parts import CacheGeometry, CachePart, SlabFlags
from .slab_flags import SLAB_FLAG_NAMES


def KERNEL_VERSION(a: int, b: int, c: int) -> int:
    """include/linux/version.h: what drivers compare LINUX_VERSION_CODE with."""
    return (a << 16) + (b << 8) + min(c, 255)


@dataclass(frozen=True)
class KernelVersion:
    release: str        # `uname -r` without the local version
    arch: Arch
    slab_name: str      # "SLAB", "SLUB"
    page_alloc: ModuleType
    slab: ModuleType    # the slab allocator's module
    gfp: ModuleType
    procfs: ModuleType
    sysfs: ModuleType | None
    mempool: ModuleType
    vmalloc: ModuleType
    trace: ModuleType
    fault_inject: ModuleType
    # a cache's shape, and the caches newest first (/proc/slabinfo's order)
    geometry: Callable[[Any], CacheGeometry]
    caches: Callable[[Any], Sequence[CachePart]]
    # lib/vsprintf.c `%p` with a field width (-1: none): what a driver's dump prints
    sprint_pointer: Callable[[int, int], str]
    slab_flags: SlabFlags
    # the slab allocator's `debug` argument for --slab-debug on or off
    # (SLAB: DEBUG on or off; SLUB: the slab_debug= letters)
    slab_debug: Callable[[bool], object]

    @property
    def code(self) -> int:
        """LINUX_VERSION_CODE."""
        a, b, c = (int(x) for x in (self.release.split(".") + ["0", "0"])[:3])
        return KERNEL_VERSION(a, b, c)

    @property
    def pointer_size(self) -> int:
        return self.arch.pointer_size

    @property
    def page_offset(self) -> int:
        return self.arch.page_offset


def slab_geometry(c: slab.KmemCache) -> CacheGeometry:
    """SLAB (mm/slab.c struct kmem_cache): obj_size, buffer_size, num, gfporder."""
    return CacheGeometry(c.name, c.obj_size, c.buffer_size, c.align, c.num, c.gfporder,
                         (c.limit, c.batchcount, c.shared))


def slab_caches(sl: slab.SlabAllocator) -> Sequence[slab.KmemCache]:
    return sl.cache_chain


def sprint_pointer_2618(ptr: int, width: int = -1) -> str:
    """2.6.18 lib/vsprintf.c vsnprintf case 'p': without a width, 2*sizeof(void *)
    digits zero-padded (i386: 8); with one, that width, space-padded; never hashed."""
    return f"{ptr & 0xFFFFFFFF:08x}" if width == -1 else f"{ptr & 0xFFFFFFFF:{width}x}"


DEFAULT_VERSION = "2.6.18"

VERSIONS: dict[str, KernelVersion] = {
    # rocklee104/linux-2.6.18 (import commit 4ba3a12d): i386, SLAB
    "2.6.18": KernelVersion(
        "2.6.18", I386, "SLAB", page_alloc=page_alloc, slab=slab, gfp=gfp_2618, procfs=procfs, sysfs=None,
        mempool=mempool, vmalloc=vmalloc, trace=trace, fault_inject=fault_inject,
        geometry=slab_geometry, caches=slab_caches, sprint_pointer=sprint_pointer_2618,
        slab_flags=SlabFlags(SLAB_FLAG_NAMES), slab_debug=bool),
}


def kernel_version(release: str) -> KernelVersion:
    """The declaration of `release`; ValueError naming the known ones."""
    try:
        return VERSIONS[release]
    except KeyError:
        raise ValueError(f"unknown kernel version {release!r} (known: {', '.join(VERSIONS)})") from None
