"""One version's parts under their own types, for that version's renderers.

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
