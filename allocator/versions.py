"""What each simulated kernel version is made of (SPEC §8).

A version is one declaration: its release string, its architecture (arch/),
and its slab allocator, a module that provides the slab API the Kernel binds
(`SlabAllocator(arch, page_alloc, log, sched, vmstat, faults, trace, vmscan,
debug)`, `kmem_cache_init`, `kmem_cache_create`, `kmem_cache_alloc`, ...,
`kmalloc`, `kfree`, `ksize`; slab.py is SLAB). Adding a version adds its files
(an arch, a slab allocator, renderers where its formats differ) and one entry in
VERSIONS; it edits no other version's parts.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from . import slab
from .arch import Arch
from .arch.i386 import I386


@dataclass(frozen=True)
class KernelVersion:
    release: str        # `uname -r` without the local version
    arch: Arch
    slab: ModuleType    # the slab allocator's module
    slab_name: str      # "SLAB", "SLUB"


DEFAULT_VERSION = "2.6.18"

VERSIONS: dict[str, KernelVersion] = {
    # rocklee104/linux-2.6.18 (import commit 4ba3a12d): i386, SLAB
    "2.6.18": KernelVersion("2.6.18", I386, slab, "SLAB"),
}


def kernel_version(release: str) -> KernelVersion:
    """The declaration of `release`; ValueError naming the known ones."""
    try:
        return VERSIONS[release]
    except KeyError:
        raise ValueError(f"unknown kernel version {release!r} (known: {', '.join(VERSIONS)})") from None
