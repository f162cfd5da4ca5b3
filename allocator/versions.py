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

from . import check as check_2618
from . import fault_inject, mempool, page_alloc, procfs, slab, trace, vmalloc
from . import gfp as gfp_2618
from .arch import Arch
from .arch.i386 import I386
from .arch.x86_64 import X86_64
from .background import BACKGROUND_2618, BackgroundCache
from .linux618 import boot as boot_618
from .linux618 import check as check_618
from .linux618 import fault_inject as fault_inject_618
from .linux618 import gfp as gfp_618
from .linux618 import mempool as mempool_618
from .linux618 import oom_kill as oom_kill_618
from .linux618 import page_alloc as page_alloc_618
from .linux618 import procfs as procfs_618
from .linux618 import slub
from .linux618 import sysfs as sysfs_618
from .linux618 import trace_format as trace_618
from .linux618 import vmalloc as vmalloc_618
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
    # the caches a running machine has filled (--background): background.py
    background: Sequence[BackgroundCache]
    # the simulator's consistency check of this version's state (debugfs scullc/check)
    check: Callable[[Any], list[str]]
    # the OOM killer the Kernel installs in its page allocator (None: the page
    # allocator calls its own, as 2.6.18's does)
    out_of_memory: Callable[[Any, int, int], bool] | None = None
    # the version's own memory boot lines (linux618/boot.py); None: the 2.6.18 lines
    boot: ModuleType | None = None

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


def slub_geometry(s: slub.KmemCache) -> CacheGeometry:
    """SLUB (mm/slab.h struct kmem_cache): object_size, size, oo; no tunables (0 0 0)."""
    return CacheGeometry(s.name, s.object_size, s.size, s.align, s.objects, s.order, (0, 0, 0))


def slub_caches(sl: slub.SlabAllocator) -> Sequence[slub.KmemCache]:
    return sl.slab_caches


def sprint_pointer_618(ptr: int, width: int = -1) -> str:
    """6.x lib/vsprintf.c default_pointer -> ptr_to_id: NULL (and error
    pointers) print as themselves, anything else as its 32-bit hash
    (linux618/trace_format.ptr_to_id); through pointer_string: without a
    width 16 digits zero-padded, with one that width, space-padded."""
    value = ptr if ptr == 0 else int(trace_618.ptr_to_id(ptr), 16)
    return f"{value:016x}" if width == -1 else f"{value:{width}x}"


# x86_64 6.18 (fs/dcache.c dcache_init, fs/inode.c inode_init, fs/buffer.c
# buffer_init; object sizes from the live host's /sys/kernel/slab/*/object_size):
# dentry is KMEM_CACHE_USERCOPY over d_iname (offset 56, DNAME_INLINE_LEN 40)
# and inode_cache has a ctor (init_once), so both stay unmerged; buffer_head
# merges (the host's /sys/kernel/slab/buffer_head -> :a-0000104).
_FS_618 = slub.SLAB_RECLAIM_ACCOUNT | slub.SLAB_PANIC
BACKGROUND_618 = (
    BackgroundCache("dentry", 192, _FS_618 | slub.SLAB_ACCOUNT, 0x80, 0.45, False, (56, 40)),
    BackgroundCache("inode_cache", 616, _FS_618 | slub.SLAB_ACCOUNT, 0x80, 0.35, True),
    BackgroundCache("buffer_head", 104, _FS_618, 0x40, 0.20, False),
)


def slab_debug_618(on: bool) -> str:
    """--slab-debug on 6.18 is the boot option slab_debug=FZPU (sanity checks,
    red zones, poisoning, user tracking) for every cache."""
    return "FZPU" if on else ""


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
        slab_flags=SlabFlags(SLAB_FLAG_NAMES), slab_debug=bool, background=BACKGROUND_2618,
        check=check_2618.check_kernel),
    # Debian linux-source-6.12 (6.12.117) and this machine's live 6.18 for the formats:
    # x86_64, SLUB (reference/linux-6.18.md)
    "6.18": KernelVersion(
        "6.18", X86_64, "SLUB", page_alloc=page_alloc_618, slab=slub, gfp=gfp_618, procfs=procfs_618,
        sysfs=sysfs_618, mempool=mempool_618, vmalloc=vmalloc_618, trace=trace_618,
        fault_inject=fault_inject_618, geometry=slub_geometry, caches=slub_caches,
        sprint_pointer=sprint_pointer_618, slab_flags=SlabFlags(slub.SLAB_FLAG_NAMES),
        slab_debug=slab_debug_618, background=BACKGROUND_618, check=check_618.check_kernel,
        out_of_memory=oom_kill_618.out_of_memory, boot=boot_618),
}


def kernel_version(release: str) -> KernelVersion:
    """The declaration of `release`; ValueError naming the known ones."""
    try:
        return VERSIONS[release]
    except KeyError:
        raise ValueError(f"unknown kernel version {release!r} (known: {', '.join(VERSIONS)})") from None
