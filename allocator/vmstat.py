"""Event and page-state counters after mm/vmstat.c (/proc/vmstat's global part).

`events` are the vm_event_item counters in /proc/vmstat order; the slab page
counts are the NR_SLAB_RECLAIMABLE / NR_SLAB_UNRECLAIMABLE page states. Parts
that count are given this object; renderers read it.
"""
from __future__ import annotations

VM_EVENTS = ("pgfree", "allocstall", "slabs_scanned", "pgalloc_fail", "drop_slab")


class VmStat:
    def __init__(self) -> None:
        self.events: dict[str, int] = dict.fromkeys(VM_EVENTS, 0)
        self.nr_slab_reclaimable = 0
        self.nr_slab_unreclaimable = 0


def count_vm_event(v: VmStat, item: str, delta: int = 1) -> None:
    v.events[item] += delta


def nr_slab_pages(v: VmStat) -> int:
    return v.nr_slab_reclaimable + v.nr_slab_unreclaimable
