"""Linux 6.18's OOM killer (allocator/linux618/oom_kill.py): mm/oom_kill.c
oom_badness, select_bad_process, out_of_memory, and the report's lines as
dump_header, dump_tasks, dump_oom_victim, __oom_kill_process and
oom_reap_task_mm print them (the formats of the reference §3.8). The expected
scores are worked out here from oom_badness's rule; a task's rss is the pages
allocated on its behalf (Task.total_vm)."""
from __future__ import annotations

import re

import pytest

from allocator.linux618 import oom_kill, page_alloc, show_mem
from allocator.linux618.gfp import __GFP_NOWARN, GFP_KERNEL, GFP_NOFS
from allocator.linux618.page_alloc import PageAllocator, alloc_pages
from allocator.sched import Task, set_current, switch_to
from proc618_support import boot


def task(pa: PageAllocator, pid: int, comm: str, rss: int, uid: int = 1000) -> Task:
    t = set_current(pa.sched, pid, comm)
    t.total_vm = rss
    t.uid = uid
    return t


def logged(pa: PageAllocator, since: int = 0) -> list[str]:
    return [r.text for r in pa.log.records][since:]


# -- oom_badness and the choice --------------------------------------------------


def test_oom_badness_rule() -> None:
    pa = boot()
    t = task(pa, 500, "a", 1000)
    total = pa.totalram_pages
    assert oom_kill.oom_badness(pa, t, total) == 1000          # rss + 0 swap + 0 page tables
    oom_kill.set_oom_score_adj(pa, t, 500)
    assert oom_kill.oom_badness(pa, t, total) == 1000 + 500 * (total // 1000)
    oom_kill.set_oom_score_adj(pa, t, -300)
    assert oom_kill.oom_badness(pa, t, total) == 1000 - 300 * (total // 1000)
    oom_kill.set_oom_score_adj(pa, t, -1000)
    assert oom_kill.oom_badness(pa, t, total) == oom_kill.LONG_MIN
    with pytest.raises(ValueError):
        oom_kill.set_oom_score_adj(pa, t, 1001)
    init = task(pa, 1, "init", 10 ** 6)
    assert oom_kill.oom_badness(pa, init, total) == oom_kill.LONG_MIN


def test_select_bad_process_highest_score_later_wins_ties() -> None:
    pa = boot()
    task(pa, 1, "init", 9999)                     # is_global_init: never
    k = task(pa, 2, "kthreadd", 9999)
    k.kthread = True                              # PF_KTHREAD: never
    task(pa, 100, "small", 10)
    task(pa, 101, "big", 300)
    task(pa, 102, "big2", 300)                    # same score, later in for_each_process
    oc = oom_kill.OomControl(GFP_KERNEL, 0, pa.totalram_pages)
    oom_kill.select_bad_process(pa, oc)
    assert isinstance(oc.chosen, Task) and oc.chosen.pid == 102 and oc.chosen_points == 300


def test_select_bad_process_waits_for_an_unreaped_victim() -> None:
    pa = boot()
    task(pa, 100, "a", 10)
    victim = task(pa, 101, "b", 5)
    oom_kill.mark_oom_victim(pa, victim)          # tsk_is_oom_victim, no MMF_OOM_SKIP yet
    victim.memdie = False                         # its ALLOC_OOM right used up: still a victim
    oc = oom_kill.OomControl(GFP_KERNEL, 0, pa.totalram_pages)
    oom_kill.select_bad_process(pa, oc)
    assert oc.chosen == oom_kill.ABORT
    oom_kill.oom_state(pa).oom_skip.add(victim)   # reaped
    oc = oom_kill.OomControl(GFP_KERNEL, 0, pa.totalram_pages)
    oom_kill.select_bad_process(pa, oc)
    assert isinstance(oc.chosen, Task) and oc.chosen.pid == 100


# -- out_of_memory ---------------------------------------------------------------


def test_out_of_memory_nofs_returns_true_without_a_kill() -> None:
    pa = boot()
    task(pa, 100, "a", 10)
    n = len(logged(pa))
    assert oom_kill.out_of_memory(pa, GFP_NOFS, 0)
    assert logged(pa, n) == [] and pa.vm_events["oom_kill"] == 0


def test_out_of_memory_report_and_kill() -> None:
    pa = boot()
    task(pa, 100, "small", 25)
    big = task(pa, 101, "hog", 1000, uid=1000)
    current = task(pa, 102, "writer", 50, uid=0)
    switch_to(pa.sched, current)
    n = len(logged(pa))
    assert oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    lines = logged(pa, n)
    assert lines[0] == "writer invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"
    assert re.fullmatch(r"CPU: \d+ UID: 0 PID: 102 Comm: writer Not tainted \S+ #1 PREEMPT\(none\) ",
                        lines[1])
    i = lines.index(" <TASK>")
    assert [re.sub(r"\+0x.*", "", x) for x in lines[i + 1:i + 5]] == \
           [" dump_stack_lvl", " dump_header", " oom_kill_process", " out_of_memory"]
    assert "Mem-Info:" in lines
    t = lines.index("Tasks state (memory values in pages):")
    assert lines[t + 1] == ("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem"
                            " pgtables_bytes swapents oom_score_adj name")
    # "[%7d] %5d %5d %8lu %8lu %8lu %8lu %9lu %8ld %8lu         %5hd %s"
    assert lines[t + 2:t + 5] == [
        "[    100]  1000   100       25       25       25        0         0        0        0"
        "             0 small",
        "[    101]  1000   101     1000     1000     1000        0         0        0        0"
        "             0 hog",
        "[    102]     0   102       50       50       50        0         0        0        0"
        "             0 writer"]
    assert lines[t + 5] == ("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
                            "global_oom,task_memcg=/,task=hog,pid=101,uid=1000")
    assert lines[t + 6] == ("Out of memory: Killed process 101 (hog) total-vm:4000kB, anon-rss:4000kB,"
                            " file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:0kB oom_score_adj:0")
    assert lines[t + 7] == "oom_reaper: reaped process 101 (hog), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"
    assert len(lines) == t + 8
    assert big.memdie and big.killed and pa.vm_events["oom_kill"] == 1


def test_a_reaped_victim_is_passed_over_next_time() -> None:
    pa = boot()
    task(pa, 100, "second", 10)
    task(pa, 101, "first", 99)
    switch_to(pa.sched, task(pa, 102, "caller", 1))
    assert oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    assert oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    kills = [x for x in logged(pa) if x.startswith("Out of memory: Killed process")]
    assert [x.split()[5] for x in kills] == ["101", "100"]
    assert pa.vm_events["oom_kill"] == 2


def test_score_adj_steers_the_choice_and_is_printed() -> None:
    pa = boot()
    big = task(pa, 100, "big", 1000)
    small = task(pa, 101, "small", 10)
    oom_kill.set_oom_score_adj(pa, big, -1000)             # OOM_SCORE_ADJ_MIN: never
    oom_kill.set_oom_score_adj(pa, small, 15)
    switch_to(pa.sched, small)
    oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    lines = logged(pa)
    assert lines[0].endswith("oom_score_adj=15")
    kill = next(x for x in lines if x.startswith("Out of memory: Killed"))
    assert kill.startswith("Out of memory: Killed process 101 (small)") and kill.endswith("oom_score_adj:15")
    assert any(x.endswith("         -1000 big") for x in lines)


def test_no_killable_process_is_the_deadlock_panic() -> None:
    pa = boot()
    switch_to(pa.sched, task(pa, 1, "init", 100))
    assert not oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    lines = logged(pa)
    assert lines[0].startswith("init invoked oom-killer:")
    assert lines[-2:] == ["Out of memory and no killable processes...",
                          "Kernel panic - not syncing: System is deadlocked on memory"]


def test_panic_on_oom() -> None:
    pa = boot()
    switch_to(pa.sched, task(pa, 100, "a", 100))
    pa.sched.panic_on_oom = True
    assert not oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    assert logged(pa)[-1] == "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled"
    assert pa.vm_events["oom_kill"] == 0


def test_a_dying_current_is_marked_not_killed_again() -> None:
    """task_will_free_mem(current): it gets the reserves, nobody else dies."""
    pa = boot()
    task(pa, 100, "other", 500)
    cur = task(pa, 101, "dying", 5)
    cur.killed = True
    assert oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    assert cur.memdie and pa.vm_events["oom_kill"] == 0
    assert not any(x.startswith("Out of memory") for x in logged(pa))


def test_unreclaimable_slab_info_when_slab_dominates() -> None:
    pa = boot()
    page_alloc.mod_node_page_state(pa, 0, "nr_slab_unreclaimable_b", 10 * 4096)
    oom_kill.oom_state(pa).unreclaimable_slab = lambda: [("kmalloc-4k", 32, 40), ("scullc", 3000, 4032)]
    switch_to(pa.sched, task(pa, 100, "a", 100))
    oom_kill.out_of_memory(pa, GFP_KERNEL, 0)
    lines = logged(pa)
    i = lines.index("Unreclaimable slab info:")
    assert lines[i + 1:i + 4] == ["Name                      Used          Total",
                                  "kmalloc-4k                32KB         40KB",
                                  "scullc                  3000KB       4032KB"]
    assert lines[i + 4] == "Tasks state (memory values in pages):"


def test_the_slow_path_kills_through_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the OOM killer installed in the page allocator, order-0 GFP_KERNEL
    requests that exhaust memory end in a kill of the biggest task."""
    monkeypatch.setattr(page_alloc, "out_of_memory", oom_kill.out_of_memory)
    monkeypatch.setattr(page_alloc, "warn_alloc_hook", show_mem.warn_alloc_hook)
    pa = boot()
    task(pa, 100, "bystander", 0)
    hog = task(pa, 101, "hog", 0)
    while alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN, 0) is not None and pa.vm_events["oom_kill"] == 0:
        pass
    assert pa.vm_events["oom_kill"] == 1
    kill = next(x for x in logged(pa) if x.startswith("Out of memory: Killed process"))
    m = re.match(r"Out of memory: Killed process 101 \(hog\) total-vm:(\d+)kB, anon-rss:(\d+)kB,", kill)
    assert m and m.group(1) == m.group(2)
    # the victim's rss when it was chosen: what it had allocated (it may take
    # one more page with ALLOC_OOM afterwards)
    assert 0 < int(m.group(1)) <= hog.total_vm * 4
    assert hog.killed and oom_kill.tsk_is_oom_victim(pa, hog)


def test_unreclaimable_slab_rows_from_slub() -> None:
    """LDD3's scullc cache on 6.18 is 4032-byte objects, 8 per order-3 slab
    (the reference §4.6): three objects make one CPU slab whose free objects
    get_slabinfo counts as active, so 8 * 4032 B = 31 kB used and total. A
    SLAB_RECLAIM_ACCOUNT cache is left out."""
    from allocator.linux618 import slub
    pa = boot()
    sl = slub.SlabAllocator(pa.arch, pa, pa.log, pa.sched, pa.vmstat, pa.faults, pa.trace, pa.vmscan)
    slub.kmem_cache_init(sl)
    scullc = slub.kmem_cache_create(sl, "scullc", 4000, 0, slub.SLAB_HWCACHE_ALIGN)
    recl = slub.kmem_cache_create(sl, "reclaimable_one", 3000, 0,
                                  slub.SLAB_HWCACHE_ALIGN | slub.SLAB_RECLAIM_ACCOUNT)
    assert scullc is not None and recl is not None
    for _ in range(3):
        assert slub.kmem_cache_alloc(sl, scullc, GFP_KERNEL) is not None
        assert slub.kmem_cache_alloc(sl, recl, GFP_KERNEL) is not None
    oom_kill.attach_slab(pa, sl)
    rows = dict((n, (u, t)) for n, u, t in oom_kill.slab_unreclaimable_rows(sl))
    assert rows["scullc"] == (31, 31)
    assert "reclaimable_one" not in rows
    switch_to(pa.sched, task(pa, 100, "a", 1))
    oom_kill.out_of_memory(pa, GFP_KERNEL, 0)          # slab pages > LRU pages (none)
    assert "scullc                    31KB         31KB" in logged(pa)
