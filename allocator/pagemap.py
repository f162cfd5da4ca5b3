"""Who owns every page frame: the text behind the memory-map picture.

`sys/kernel/debug/scullc/pagemap` has one record per run of frames with the same
owner, zone by zone, lowest pfn first:

    # node zone start_pfn nr_pages owner order
    0 DMA 0 1 reserved -
    0 DMA 1 1 free 0
    0 DMA 2 2 free 1

Owners: `free` (in the buddy lists; `order` is the block's buddy order, and a run
holds consecutive blocks of that one order), `pcp` (free, parked on a per-CPU
list), `reserved`, `hole` (no RAM), `pages` (alloc_pages users; `order` of the
blocks), `slab:<cache>` for a cache's slabs (`order` = the cache's gfporder) and
`kmalloc:size-N` for the general caches, `vmalloc`, or the `name` of any other
owner object. The runs of a zone add up to its spanned pages; its free runs are
exactly its free_area lists, so they agree with /proc/buddyinfo.

Also `/sys/kernel/debug/extfrag/unusable_index` (mm/vmstat.c unusable_show): per
zone and order, how much of the free memory cannot serve an allocation of that
order. Nothing here changes state.

Both versions' page allocators are read through what they share: the zones
(node, name, start_pfn, spanned), mem_map (6.18's sparse one walked by
`runs`, without materializing it) and the buddy lists (2.6.18: one pfn dict
per order; 6.18: a FreeArea per order with one list per migrate type).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import TYPE_CHECKING, Any, NamedTuple

from .page_alloc import MAX_ORDER, PAGES, PageOwner
from .parts import ZonePart

if TYPE_CHECKING:
    from .kernel import Kernel

PAGEMAP_HEADER = "# node zone start_pfn nr_pages owner order\n"
# The order the picture quotes for a zone's fragmentation (PAGE_ALLOC_COSTLY_ORDER).
FRAG_ORDER = 3


class PageRun(NamedTuple):
    node: int
    zone: str
    start_pfn: int
    count: int  # type: ignore[assignment]  # the pagemap column's name; shadows tuple.count
    owner: str
    order: int | None   # buddy order of free / pages blocks, gfporder of slabs


def owner_label(owner: object) -> str:
    """The pagemap name of a mem_map entry (None is a free buddy page).

    Slabs name their cache (`slab:` or, for the general caches, `kmalloc:`);
    any other owner object is named by its `name` (or its cache's name), so
    owners that features add later need no change here."""
    if owner is None:
        return "free"
    cache = getattr(owner, "cache", None)
    if cache is not None:
        name = getattr(cache, "name", None) or "?"
        return ("kmalloc:" if getattr(cache, "kmalloc", False) else "slab:") + name
    name = getattr(owner, "name", None)
    if isinstance(name, str) and name:
        return "".join(c if c.isprintable() and not c.isspace() else "_" for c in name)
    return type(owner).__name__.lower()


def _area_pfns(area: Any) -> Iterable[int]:
    """The head pfns of one order's free blocks: 2.6.18 keeps them in one
    dict, 6.18 in one list per migrate type (free_area.free_list[mt])."""
    if isinstance(area, dict):
        return area
    return (pfn for lst in area.free_list for pfn in lst)


def _area_nr_free(area: Any) -> int:
    return len(area) if isinstance(area, dict) else int(area.nr_free)


def _free_blocks(zone: ZonePart) -> dict[int, int]:
    """pfn -> order of every block on the zone's buddy lists."""
    blocks = {}
    for order, area in enumerate(zone.free_area):
        for pfn in _area_pfns(area):
            blocks[pfn] = order
    return blocks


def _owner_runs(mem_map: Any, lo: int, hi: int) -> Iterator[tuple[PageOwner | None, int]]:
    """(owner, frames) runs of mem_map[lo:hi]: 6.18's sparse map walks its own
    runs; 2.6.18's list is grouped."""
    runs = getattr(mem_map, "runs", None)
    if runs is not None:
        yield from runs(lo, hi)
        return
    for owner, frames in groupby(mem_map[lo:hi]):
        yield owner, sum(1 for _ in frames)


def _split_blocks(node: int, zname: str, label: str, start: int, end: int,
                  order_at: dict[int, int], out: list[PageRun]) -> None:
    """Cut [start, end) into blocks as `order_at` gives their heads, merging
    neighbours of one order into one run. A frame that heads no block (an
    inconsistency the records then show) becomes a one-page run with no order."""
    pfn = start
    while pfn < end:
        order = order_at.get(pfn)
        if order is None or pfn + (1 << order) > end:
            order, n = None, 1
        else:
            n = 1 << order
        last = out[-1] if out else None
        if (order is not None and last is not None and last.order == order
                and last.owner == label and last.start_pfn + last.count == pfn
                and last.zone == zname and last.node == node):
            out[-1] = last._replace(count=last.count + n)
        else:
            out.append(PageRun(node, zname, pfn, n, label, order))
        pfn += n


def pagemap_runs(k: Kernel) -> list[PageRun]:
    """Every frame of every zone, as runs of one owner (see the module doc)."""
    out: list[PageRun] = []
    mem_map = k.mem_map
    for zone in k.zones:
        if not zone.spanned:
            continue
        free_blocks = None
        pfn = zone.start_pfn
        # Consecutive slabs of one cache are distinct Slab objects: group by the
        # label, not by the object, so a cache's neighbouring slabs make one run.
        labels: dict[int, str] = {}
        pending: Run | None = None  # the run being built
        for owner, n in _owner_runs(mem_map, zone.start_pfn, zone.start_pfn + zone.spanned):
            key = id(owner)
            label = labels.get(key)
            if label is None:
                label = labels[key] = owner_label(owner)
            if pending is not None and pending.label == label:
                pending.count += n
            else:
                if pending is not None:
                    free_blocks = _emit(out, k, zone, pending, free_blocks)
                pending = Run(label, pfn, n, owner)
            pfn += n
        if pending is not None:
            _emit(out, k, zone, pending, free_blocks)
    return out


class Run:
    """A run of frames being collected: label, first pfn, count, first owner."""
    __slots__ = ("count", "label", "owner", "start")

    def __init__(self, label: str, start: int, count: int, owner: PageOwner | None):
        self.label, self.start, self.count, self.owner = label, start, count, owner


def _emit(out: list[PageRun], k: Kernel, zone: ZonePart, run: Run,
          free_blocks: dict[int, int] | None) -> dict[int, int] | None:
    label, start, count, owner = run.label, run.start, run.count, run.owner
    node, zname = zone.node.id, zone.name
    if owner is None:
        if free_blocks is None:
            free_blocks = _free_blocks(zone)
        _split_blocks(node, zname, label, start, start + count, free_blocks, out)
    elif owner is PAGES:
        _split_blocks(node, zname, label, start, start + count, k.alloc_order, out)
    else:
        cache = getattr(owner, "cache", None)
        order = getattr(cache, "gfporder", None) if cache is not None else None
        out.append(PageRun(node, zname, start, count, label, order))
    return free_blocks


def pagemap(k: Kernel) -> str:
    """sys/kernel/debug/scullc/pagemap: the header, then one line per run."""
    lines = [PAGEMAP_HEADER]
    for r in pagemap_runs(k):
        lines.append(f"{r.node} {r.zone} {r.start_pfn} {r.count} {r.owner} "
                     f"{'-' if r.order is None else r.order}\n")
    return "".join(lines)


def parse_pagemap(text: str) -> list[PageRun]:
    """The runs of a pagemap text (what `pagemap` prints). ValueError on a
    malformed line, naming it."""
    runs: list[PageRun] = []
    append = runs.append
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line or line[0] == "#":
            continue
        try:
            node, zone, start, count, owner, order = line.split()
            append(PageRun(int(node), zone, int(start), int(count), owner,
                           None if order == "-" else int(order)))
        except ValueError:
            if not line.strip():
                continue
            raise ValueError(f"pagemap line {lineno}: {line!r}") from None
    return runs


# -- fragmentation ---------------------------------------------------------------

def unusable_free_index(order: int, nr_free: list[int]) -> int:
    """mm/vmstat.c unusable_free_index after fill_contig_page_info: the share
    (0..1000) of free pages that sit in blocks smaller than 2**order. A zone
    with no free memory counts as wholly unusable (1000)."""
    free_pages = sum(n << o for o, n in enumerate(nr_free))
    if free_pages == 0:
        return 1000
    suitable = sum(n << (o - order) for o, n in enumerate(nr_free) if o >= order)
    return (free_pages - (suitable << order)) * 1000 // free_pages


def zone_nr_free(runs: list[PageRun]) -> dict[tuple[int, str], list[int]]:
    """(node, zone) -> free blocks per order, counted from pagemap runs: the
    same numbers /proc/buddyinfo prints."""
    out: dict[tuple[int, str], list[int]] = {}
    for r in runs:
        nr_free = out.setdefault((r.node, r.zone), [0] * MAX_ORDER)
        if r.owner == "free" and r.order is not None:
            nr_free[r.order] += r.count >> r.order
    return out


def unusable_index(k: Kernel) -> str:
    """/sys/kernel/debug/extfrag/unusable_index as unusable_show prints it:
    `Node %d, zone %8s ` then `%d.%03d ` for every order."""
    out = []
    for z in k.zones:
        if not z.present:       # walk_zones_in_node(..., assert_populated=true)
            continue
        nr_free = [_area_nr_free(a) for a in z.free_area]
        out.append(f"Node {z.node.id}, zone {z.name:>8} "
                   + "".join(f"{i // 1000}.{i % 1000:03d} "
                             for i in (unusable_free_index(o, nr_free) for o in range(MAX_ORDER)))
                   + "\n")
    return "".join(out)
