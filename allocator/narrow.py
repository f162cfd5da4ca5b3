"""One version's parts under their own types, for that version's renderers
(page_alloc_2618, slab_2618, vmalloc_2618; page_alloc_618, slub_618, vmalloc_618).

The Kernel holds its parts as the Protocols of parts.py (what every version
has). A renderer written for one version (2.6.18's procfs, check, pagemap)
asks for its version's classes here; on another version this is a TypeError
naming the version, never a silent misreading of another allocator's state.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import page_alloc as PA
from . import slab as SL
from . import vmalloc as VM
from .linux618 import page_alloc as PA618
from .linux618 import slub as SLUB
from .linux618 import vmalloc as VM618

if TYPE_CHECKING:
    from .kernel import Kernel


def page_alloc_2618(k: Kernel) -> PA.PageAllocator:
    """k's page allocator as 2.6.18's (zones with pages_min, hot/cold pcp lists)."""
    pa = k.page_alloc
    if not isinstance(pa, PA.PageAllocator):
        raise TypeError(f"Linux {k.version.release} has no 2.6.18 page allocator")
    return pa


def slab_2618(k: Kernel) -> SL.SlabAllocator:
    """k's slab allocator as 2.6.18's SLAB."""
    sl = k.slab
    if not isinstance(sl, SL.SlabAllocator):
        raise TypeError(f"Linux {k.version.release} has no SLAB ({k.version.slab_name})")
    return sl


def vmalloc_2618(k: Kernel) -> VM.Vmalloc:
    """k's vmalloc area as 2.6.18's (vmlist, i386 page tables)."""
    va = k.vmalloc_area
    if not isinstance(va, VM.Vmalloc):
        raise TypeError(f"Linux {k.version.release} has no 2.6.18 vmalloc")
    return va


def page_alloc_618(k: Kernel) -> PA618.PageAllocator:
    """k's page allocator as 6.18's (migrate types, pcp lists per order, vm_stat items)."""
    pa = k.page_alloc
    if not isinstance(pa, PA618.PageAllocator):
        raise TypeError(f"Linux {k.version.release} has no 6.18 page allocator")
    return pa


def slub_618(k: Kernel) -> SLUB.SlabAllocator:
    """k's slab allocator as 6.18's SLUB."""
    sl = k.slab
    if not isinstance(sl, SLUB.SlabAllocator):
        raise TypeError(f"Linux {k.version.release} has no SLUB ({k.version.slab_name})")
    return sl


def vmalloc_618(k: Kernel) -> VM618.Vmalloc:
    """k's vmalloc area as 6.18's (vmap_area tree, x86_64 space)."""
    va = k.vmalloc_area
    if not isinstance(va, VM618.Vmalloc):
        raise TypeError(f"Linux {k.version.release} has no 6.18 vmalloc")
    return va
