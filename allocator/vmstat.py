"""Event and page-state counters after mm/vmstat.c (/proc/vmstat's global part).

`events` are the vm_event_item counters in /proc/vmstat order; the slab page
counts are the NR_SLAB_RECLAIMABLE / NR_SLAB_UNRECLAIMABLE page states. Parts
that count are given this object; renderers read it.
"""
from __future__ import annotations

# pageoutrun, kswapd_steal, kswapd_inodesteal, pginodesteal: mm/vmscan.c, fs/inode.c
# (2.6.18). kswapd_steal counts LRU pages shrink_page_list freed in kswapd and the
# inodesteal counters page cache pages freed with pruned inodes: with no LRU and no
# page cache here both stay 0, as 2.6.18 would count them.
VM_EVENTS = ("pgfree", "allocstall", "slabs_scanned", "pgalloc_fail", "drop_slab",
             "pageoutrun", "kswapd_steal", "kswapd_inodesteal", "pginodesteal")


class VmStat:
    """`events` is what all_vm_events() returns: the counters by name. As in
    2.6.18, where __count_vm_events adds to a per-CPU counter that
    all_vm_events() sums when /proc/vmstat is read, the page allocator's
    free path adds to `pgfree_delta` (a native int, where a dict entry costs a
    lookup by name and a boxed add on every freed page), and reading `events`
    folds it into the dict: every reader sees the same counts as before."""

    def __init__(self) -> None:
        self._events: dict[str, int] = dict.fromkeys(VM_EVENTS, 0)
        self.pgfree_delta = 0              # PGFREE counted but not yet in _events
        self.nr_slab_reclaimable = 0
        self.nr_slab_unreclaimable = 0

    @property
    def events(self) -> dict[str, int]:
        delta = self.pgfree_delta
        if delta:
            self.pgfree_delta = 0
            self._events["pgfree"] += delta
        return self._events


def count_vm_event(v: VmStat, item: str, delta: int = 1) -> None:
    v.events[item] += delta


def nr_slab_pages(v: VmStat) -> int:
    return v.nr_slab_reclaimable + v.nr_slab_unreclaimable
