"""The consistency check of a 6.18 machine (debugfs scullc/check), as
allocator/check.py is 2.6.18's: the simulator's invariants, not a kernel file.

Zones: every block on a free list lies in its zone, is aligned to its order,
is recorded as a buddy of that order, and its frames are free in mem_map; no
frame is on two lists; free_area[order].nr_free counts the lists; the zone's
NR_FREE_PAGES is what the lists hold; per-CPU pages are PCP frames and on no
free list; no allocated block is marked free. Slabs: every live object lies
in a slab of its own cache, inside the slab, on an object boundary. Then the
vmalloc area's own check.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..page_alloc import FREE, PCP
from . import page_alloc as PA
from . import slub as S
from . import vmalloc as VM

if TYPE_CHECKING:
    from ..kernel import Kernel


def check_kernel(k: Kernel) -> list[str]:
    pa, sl, va = k.page_alloc, k.slab, k.vmalloc_area
    assert isinstance(pa, PA.PageAllocator) and isinstance(sl, S.SlabAllocator)
    assert isinstance(va, VM.Vmalloc)
    problems: list[str] = []
    _check_zones(pa, problems)
    _check_slabs(pa, sl, problems)
    problems += VM.vmalloc_check(va)
    return problems


def _check_zones(pa: PA.PageAllocator, problems: list[str]) -> None:
    mem_map = pa.mem_map
    for z in pa.zones:
        if not z.spanned:
            continue
        where = f"node {z.node.id} zone {z.name}"
        seen: set[int] = set()
        free = 0
        for order, area in enumerate(z.free_area):
            size = 1 << order
            listed = 0
            for mt, lst in enumerate(area.free_list):
                for pfn in lst:
                    listed += 1
                    if pfn & (size - 1):
                        problems.append(f"{where}: free block {pfn:#x} misaligned for order {order}")
                    if pfn < z.start_pfn or pfn + size > z.end_pfn:
                        problems.append(f"{where}: free block {pfn:#x} order {order} outside the zone")
                    if z.buddy.get(pfn) != order:
                        problems.append(f"{where}: free block {pfn:#x} (type {mt}) not a buddy of order {order}")
                    for p in range(pfn, pfn + size):
                        if p in seen:
                            problems.append(f"{where}: pfn {p:#x} is on two free lists")
                            break
                        seen.add(p)
                        if mem_map[p] is not FREE:
                            problems.append(f"{where}: free pfn {p:#x} owned by {mem_map[p]!r}")
                            break
                    free += size
            if listed != area.nr_free:
                problems.append(f"{where}: order {order} nr_free {area.nr_free} but the lists hold {listed}")
        if free != z.free_pages:
            problems.append(f"{where}: free pages {z.free_pages} but the lists hold {free}")
        for cpu, pcp in enumerate(z.pcp):
            for pindex, pages in enumerate(pcp.lists):
                for pfn in pages:
                    if mem_map[pfn] is not PCP or pfn in seen:
                        problems.append(f"{where}: cpu {cpu} pcp list {pindex} page {pfn:#x} is also"
                                        f" {mem_map[pfn]!r}")
                    seen.add(pfn)
    for pfn, order in pa.alloc_order.items():
        if mem_map[pfn] is FREE or mem_map[pfn] is PCP:
            problems.append(f"allocated block {pfn:#x} order {order} is marked free")


def _check_slabs(pa: PA.PageAllocator, sl: S.SlabAllocator, problems: list[str]) -> None:
    shift = pa.page_shift
    for s in sl.slab_caches:
        for objp in s.live:
            owner = pa.mem_map[objp >> shift]
            if not isinstance(owner, S.Slab) or owner.cache is not s:
                problems.append(f"cache {s.name}: live object {objp:#x} is in {owner!r}")
                continue
            off = objp - owner.addr
            if not 0 <= off < owner.objects * s.size or off % s.size != s.red_left_pad:
                problems.append(f"cache {s.name}: live object {objp:#x} is not on an object boundary"
                                f" of {owner!r}")
