"""A full consistency check of the simulated kernel's memory state.

Walks every zone's buddy lists and per-CPU page lists, the page owner map,
every cache's slabs, arrays and live objects. Returns a list of problems, each a
sentence; an empty list means consistent. Meant for debugfs `check` and tests:
it is O(memory), not for hot paths.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import slab_debug as D
from .narrow import page_alloc_2618, slab_2618
from .page_alloc import FREE, MAX_ORDER, PCP
from .physmem import PAGE_SHIFT
from .slab import LIST_FREE, LIST_FULL, LIST_PARTIAL, Slab
from .slab_flags import SLAB_POISON, SLAB_RED_ZONE

if TYPE_CHECKING:
    from .kernel import Kernel


def check_kernel(k: Kernel) -> list[str]:
    problems: list[str] = []
    _check_zones(k, problems)
    _check_slabs(k, problems)
    problems += k.vmalloc_check()
    return problems


def _check_zones(k: Kernel, problems: list[str]) -> None:
    pa = page_alloc_2618(k)
    mem_map = pa.mem_map
    for z in pa.zones:
        where = f"node {z.node.id} zone {z.name}"
        free = 0
        seen: set[int] = set()
        for order, area in enumerate(z.free_area):
            for pfn in area:
                size = 1 << order
                if pfn & (size - 1):
                    problems.append(f"{where}: free block {pfn:#x} misaligned for order {order}")
                if pfn < z.start_pfn or pfn + size > z.end_pfn:
                    problems.append(f"{where}: free block {pfn:#x} order {order} outside the zone")
                for p in range(pfn, pfn + size):
                    if p in seen:
                        problems.append(f"{where}: pfn {p:#x} is on two free lists")
                    seen.add(p)
                    if mem_map[p] is not FREE:
                        problems.append(f"{where}: free pfn {p:#x} owned by {mem_map[p]!r}")
                        break
                if order < MAX_ORDER - 1 and (pfn ^ size) in area:
                    problems.append(f"{where}: buddies {pfn:#x} and {pfn ^ size:#x} not coalesced")
                free += size
        if free != z.free_pages:
            problems.append(f"{where}: free_pages {z.free_pages} but the lists hold {free}")
        for cpu, lists in enumerate(z.pcp):
            for pcp in lists:
                for pfn in pcp.pages:
                    if mem_map[pfn] is not PCP or pfn in seen:
                        problems.append(f"{where}: cpu {cpu} pcp page {pfn:#x} is also {mem_map[pfn]!r}")
                    seen.add(pfn)
    for pfn, order in k.alloc_order.items():
        if mem_map[pfn] is FREE or mem_map[pfn] is PCP:
            problems.append(f"allocated block {pfn:#x} order {order} is marked free")


def _check_slabs(k: Kernel, problems: list[str]) -> None:
    mem_map = page_alloc_2618(k).mem_map
    for c in k.cache_chain:
        where = f"cache {c.name}"
        parked: set[int] = set()
        for ac in c.array:
            parked.update(ac.entry)
            if len(ac.entry) > ac.limit:
                problems.append(f"{where}: per-CPU array holds {len(ac.entry)} > limit {ac.limit}")
        for l3 in c.nodelists:
            if l3.shared:
                parked.update(l3.shared.entry)
            for alien in l3.alien or ():   # NUMA: remote frees waiting in alien arrays
                if alien is not None:
                    parked.update(alien.entry)
        if parked & c.live:
            problems.append(f"{where}: {len(parked & c.live)} objects both handed out and in an array")
        in_slabs_used = 0
        for nid, l3 in enumerate(c.nodelists):
            free_objs = 0
            for kind, lst in zip((LIST_FULL, LIST_PARTIAL, LIST_FREE), l3.lists):
                for slabp in lst:
                    if slabp.list != kind:
                        problems.append(f"{where}: slab {slabp.pfn:#x} on list {kind}, thinks {slabp.list}")
                    if slabp.inuse + len(slabp.free) != c.num:
                        problems.append(f"{where}: slab {slabp.pfn:#x} inuse {slabp.inuse} + free"
                                        f" {len(slabp.free)} != {c.num}")
                    expected = {LIST_FULL: c.num, LIST_FREE: 0}.get(kind)
                    if expected is not None and slabp.inuse != expected or \
                            kind == LIST_PARTIAL and not 0 < slabp.inuse < c.num:
                        problems.append(f"{where}: slab {slabp.pfn:#x} with {slabp.inuse} in use on list {kind}")
                    for p in range(slabp.pfn, slabp.pfn + (1 << c.gfporder)):
                        if mem_map[p] is not slabp:
                            problems.append(f"{where}: page {p:#x} of a slab is owned by {mem_map[p]!r}")
                            break
                    for objp in slabp.free:
                        if objp in c.live or objp in parked:
                            problems.append(f"{where}: free object {objp:#x} is also in use")
                    free_objs += len(slabp.free)
                    in_slabs_used += slabp.inuse
            if free_objs != l3.free_objects:
                problems.append(f"{where}: node {nid} free_objects {l3.free_objects} but slabs hold {free_objs}")
        if in_slabs_used != len(c.live) + len(parked):
            problems.append(f"{where}: slabs count {in_slabs_used} used objects, but {len(c.live)} are live"
                            f" and {len(parked)} parked in arrays")
        for objp in c.live:
            owner = mem_map[objp >> PAGE_SHIFT]
            if not isinstance(owner, Slab) or owner.cache is not c:
                problems.append(f"{where}: live object {objp:#x} is not in one of its slabs")
                break
        if k.slab_debug and c.flags & SLAB_POISON:
            expect = D.poison_pattern(c)
            free_slots = list(parked)
            for l3 in c.nodelists:
                for lst in l3.lists:
                    for slabp in lst:
                        free_slots.extend(slabp.free)
            for slot in free_slots:
                addr = slot + c.obj_offset
                if k.mem.view[addr:addr + c.obj_size] != expect:
                    problems.append(f"{where}: poison of free object {addr:#x} overwritten (use after free)")
        if k.slab_debug and c.flags & SLAB_RED_ZONE:
            for slot in c.live:
                if not D.redzones_active(slab_2618(k), c, slot):
                    problems.append(f"{where}: red zone of live object {slot + c.obj_offset:#x} overwritten")
