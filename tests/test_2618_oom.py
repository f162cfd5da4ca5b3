"""__alloc_pages' loop and the OOM killer against 2.6.18 mm/page_alloc.c and
mm/oom_kill.c (rocklee104/linux-2.6.18, 4ba3a12d).

What 2.6.18 does after direct reclaim (try_to_free_pages) of a __GFP_WAIT
allocation, transcribed from __alloc_pages:

    if (did_some_progress) { try again; if page: got_pg }
    else if ((gfp_mask & __GFP_FS) && !(gfp_mask & __GFP_NORETRY)) {
        try at ALLOC_WMARK_HIGH; out_of_memory(zonelist, gfp_mask, order); goto restart; }
    do_retry = 0;
    if (!(gfp_mask & __GFP_NORETRY)) {
        if ((order <= 3) || (gfp_mask & __GFP_REPEAT)) do_retry = 1;
        if (gfp_mask & __GFP_NOFAIL) do_retry = 1; }
    if (do_retry) { blk_congestion_wait(WRITE, HZ/50); goto rebalance; }
    nopage: printk(KERN_WARNING "%s: page allocation failure. order:%d, mode:0x%x\\n", ...)

The simulator never blocks: where 2.6.18 goes back, a caller that may sleep
gets None, sleep_request (gfp, order) and alloc_next "retry" / "oom".
"""
from __future__ import annotations

import math

import pytest

from allocator.kernel import Kernel
from allocator.oom_kill import OOM_DISABLE, badness
from allocator.sched import Task, exit_task, sleep_deadline

# include/linux/gfp.h (2.6.18)
WAIT, IO, FS, HIGH = 0x10, 0x40, 0x80, 0x20
NOWARN, REPEAT, NOFAIL, NORETRY = 0x200, 0x400, 0x800, 0x1000
KERNEL, NOFS, NOIO, ATOMIC = WAIT | IO | FS, WAIT | IO, WAIT, HIGH


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def k():
    """A 16 MiB machine (ZONE_DMA only), no background caches (no shrinker can
    make progress), two known tasks with 40 and 10 pages, memory exhausted
    down to what GFP_ATOMIC may not take."""
    clock = Clock()
    k = Kernel(mem=16 << 20, cpus=1, clock=clock)
    k.clock = clock
    swapper = k.current
    k.set_current(100, "big")
    big = [k.alloc_pages(KERNEL, 0) for _ in range(40)]
    k.set_current(200, "small")
    small = [k.alloc_pages(KERNEL, 0) for _ in range(10)]
    assert None not in big + small
    k.current = swapper
    while k.alloc_pages(ATOMIC | NOWARN, 0) is not None:
        pass
    k.set_current(300, "writer")
    yield k
    k.close()


def texts(k, start: int) -> list[str]:
    return [r.text for r in list(k.log.records)[start:]]


def sleeping(k, gfp: int, order: int = 0):
    k.sleep_ok, k.sleep_request = True, None
    try:
        return k.alloc_pages(gfp, order)
    finally:
        k.sleep_ok = False


def test_gfp_kernel_without_progress_calls_the_oom_killer_and_restarts(k):
    n = len(k.log.records)
    assert sleeping(k, KERNEL) is None
    assert k.sleep_request == (KERNEL, 0) and k.sched.alloc_next == "oom"
    out = texts(k, n)
    # mm/oom_kill.c out_of_memory: printk("oom-killer: gfp_mask=0x%x, order=%d\n"), dump_stack, show_mem
    assert out[0] == "oom-killer: gfp_mask=0xd0, order=0"
    assert "Mem-info:" in out
    # select_bad_process: the largest badness; badness = total_vm (no CPU time, young)
    # oom_kill_process: "Out of Memory: Kill process %d (%s) score %li and children."
    assert "Out of Memory: Kill process 100 (big) score 40 and children." in out
    # __oom_kill_task: "%s: Killed process %d (%s)." with message "Out of memory"
    assert out[-1] == "Out of memory: Killed process 100 (big)."
    # not a failure: no "page allocation failure" until the caller gives up
    assert not any("page allocation failure" in t for t in out)
    assert k.vm_events["allocstall"] == 1


def test_the_oom_killer_chooses_again_among_the_living(k):
    sleeping(k, KERNEL)
    n = len(k.log.records)
    sleeping(k, KERNEL)
    out = texts(k, n)
    assert "Out of Memory: Kill process 200 (small) score 10 and children." in out
    assert "Out of memory: Killed process 200 (small)." in out


def test_a_killed_task_allocates_no_more(k):
    sleeping(k, KERNEL)                  # kills pid 100
    k.set_current(100)
    n = len(k.log.records)
    assert k.alloc_pages(KERNEL, 0) is None
    assert texts(k, n) == []             # no report: the process is dead
    exit_task(k.sched, 100)              # the mount saw it go; a new process may have the pid
    k.set_current(100, "again")
    assert not k.current.killed


def test_the_victim_that_is_current_restarts_and_may_ignore_the_watermarks(k):
    # the writer is the biggest task: it is killed, gets TIF_MEMDIE, and `goto restart`
    # reaches nofail_alloc: get_page_from_freelist(..., ALLOC_NO_WATERMARKS)
    k.current.total_vm = 1000
    dma = k.zones[0]
    free = dma.free_pages
    assert 0 < free <= dma.pages_min
    assert sleeping(k, KERNEL) is not None
    assert dma.free_pages == free - 1
    assert k.sleep_request is None
    assert "Out of memory: Killed process 300 (writer)." in [r.text for r in k.log.records]


def test_no_fs_small_order_retries_for_ever_without_the_oom_killer(k):
    n = len(k.log.records)
    for gfp, order in ((NOFS, 0), (NOIO, 3), (NOFS | REPEAT, 5), (NOFS | NOFAIL, 6)):
        assert sleeping(k, gfp, order) is None
        assert k.sleep_request == (gfp, order) and k.sched.alloc_next == "retry", (gfp, order)
    assert not any("oom-killer" in t or "failure" in t for t in texts(k, n))


@pytest.mark.pure_only   # dump_stack reads the allocator's Python frames (allocator/_pure.py)
@pytest.mark.parametrize("gfp, order", [
    (NOFS, 4),                  # order > 3 without __GFP_REPEAT: do_retry 0
    (KERNEL | NORETRY, 0),      # __GFP_NORETRY: no OOM killer, no retry
    (NOFS | NOFAIL | NORETRY, 0),   # do_retry is only set under !__GFP_NORETRY
])
def test_these_fail_at_once_with_the_2618_report(k, gfp, order):
    n = len(k.log.records)
    assert sleeping(k, gfp, order) is None
    assert k.sleep_request is None
    out = texts(k, n)
    assert not any("oom-killer" in t for t in out)
    assert out[0] == f"writer: page allocation failure. order:{order}, mode:0x{gfp:x}"
    # dump_stack: " [<%08lx>] " + print_symbol: the simulated path, innermost first
    assert out[1].startswith(" [<c0") and "] show_trace+0x" in out[1]
    assert "] dump_stack+0x" in out[2]
    assert any("] __alloc_pages+0x" in t for t in out[3:6])
    assert "Mem-info:" in out


def test_gfp_fs_of_any_order_calls_the_oom_killer(k):
    # 2.6.18 has no PAGE_ALLOC_COSTLY_ORDER test before out_of_memory (2.6.23 added it)
    n = len(k.log.records)
    assert sleeping(k, KERNEL, 5) is None
    assert k.sched.alloc_next == "oom"
    assert texts(k, n)[0] == "oom-killer: gfp_mask=0xd0, order=5"


def test_a_caller_that_cannot_sleep_fails_where_2618_would_wait(k):
    # the documented default outside a sleeping request: the failure report at once
    n = len(k.log.records)
    assert k.alloc_pages(NOFS, 0) is None
    assert k.sleep_request is None and k.sched.alloc_next == "retry"
    assert texts(k, n)[0] == "writer: page allocation failure. order:0, mode:0x50"


def test_oom_disabled_and_init_are_never_chosen(k):
    k.sched.tasks[100].oomkilladj = OOM_DISABLE
    k.set_current(1, "init").total_vm = 5000
    k.set_current(300)
    n = len(k.log.records)
    sleeping(k, KERNEL)
    out = texts(k, n)
    assert "Out of Memory: Kill process 200 (small) score 10 and children." in out


def test_nobody_to_kill_is_2618s_panic_logged():
    k = Kernel(mem=16 << 20, cpus=1)
    while k.alloc_pages(ATOMIC | NOWARN, 0) is not None:
        pass
    n = len(k.log.records)
    k.alloc_pages(KERNEL | NOWARN, 0)
    assert "Kernel panic - not syncing: Out of memory and no killable processes..." in texts(k, n)
    k.close()


def test_badness_as_2618_computes_it():
    # mm/oom_kill.c badness: points = total_vm; run_time = (uptime - start) >> 10;
    # points /= int_sqrt(int_sqrt(run_time)); uid 0: points /= 4; oomkilladj shifts
    t = Task(5, 0, "x", start_time=0.0)
    t.total_vm = 1000
    assert badness(t, 100.0) == 1000               # run_time 0
    assert badness(t, 16 * 1024.0) == 1000 // 2    # run_time 16: int_sqrt(int_sqrt(16)) = 2
    assert badness(t, 81 * 1024.0) == 1000 // 3    # run_time 81: int_sqrt(9) = 3
    t.uid = 0
    assert badness(t, 100.0) == 250
    t.uid, t.oomkilladj = 1000, 2
    assert badness(t, 100.0) == 4000
    t.oomkilladj = -3
    assert badness(t, 100.0) == 125
    t.kthread = True                               # no mm
    assert badness(t, 100.0) == 0


def test_the_wait_is_unbounded_for_nofail_and_for_the_exact_kernel_setting():
    k = Kernel(mem=16 << 20)
    assert sleep_deadline(k.sched, KERNEL, 10.0, 0.5) == 10.5
    assert sleep_deadline(k.sched, KERNEL | NOFAIL, 10.0, 0.5) == math.inf
    k.sched.retry_forever = True
    assert sleep_deadline(k.sched, KERNEL, 10.0, 0.5) == math.inf
    k.close()


def test_the_oom_report_is_printk_ratelimited(k):
    n = len(k.log.records)
    for _ in range(12):
        sleeping(k, KERNEL)
        k.sched.tasks[300].killed = False       # keep the writer alive to ask again
        k.sched.tasks[300].memdie = False
    headers = [t for t in texts(k, n) if t.startswith("oom-killer:")]
    assert len(headers) == 10                   # printk_ratelimit_burst


@pytest.mark.pure_only   # dump_stack reads the allocator's Python frames (allocator/_pure.py)
def test_the_report_after_the_mounts_wait_shows_the_stack_of_the_sleeping_allocation(k):
    k.sleep_ok, k.sleep_request = True, None
    try:
        # size-4096: one object per order-0 slab, none grown at boot (SLAB's boot
        # metadata fills size-32..size-2048), so the allocation must grow a slab
        assert k.find_cache("size-4096").slab_counts()[0] == 0
        assert k.kmalloc(3000, NOFS) is None
    finally:
        k.sleep_ok = False
    assert k.sleep_request == (NOFS, 0) and k.sched.alloc_next == "retry"
    n = len(k.log.records)
    k.warn_alloc_failure(*k.sleep_request)      # what the mount does when its wait ends
    out = texts(k, n)
    assert out[0] == "writer: page allocation failure. order:0, mode:0x50"
    syms = [t.split("] ", 1)[1].split("+", 1)[0] for t in out if t.startswith(" [<")]
    # kmalloc -> __kmalloc -> __cache_alloc (inline) -> cache_alloc_refill -> cache_grow
    #   -> kmem_getpages -> alloc_pages (inline) -> __alloc_pages
    assert syms == ["show_trace", "dump_stack", "__alloc_pages", "kmem_getpages", "cache_grow",
                    "cache_alloc_refill", "__kmalloc"]


def test_a_task_whose_process_exited_is_invisible_to_the_oom_killer(k):
    """2.6.18 select_bad_process walks do_each_thread: an exited process is not
    among the tasks. The mount's sweep (cli.forget_exited) forgets every task
    whose process has left /proc, not only OOM victims: 'big' (40 pages) is then
    not chosen, and the OOM killer takes 'small' (10 pages) instead."""
    import subprocess

    from scullcfs.cli import forget_exited

    gone = subprocess.Popen(["true"])
    gone.wait()                          # its /proc/PID is gone (reaped)
    live = subprocess.Popen(["sleep", "30"])
    try:
        for pid, task in ((gone.pid, k.sched.tasks.pop(100)), (live.pid, k.sched.tasks.pop(200))):
            task.pid = pid
            k.sched.tasks[pid] = task
        forget_exited(k)
        assert gone.pid not in k.sched.tasks and live.pid in k.sched.tasks
        n = len(k.log.records)
        sleeping(k, KERNEL)
        out = texts(k, n)
        assert f"Out of Memory: Kill process {live.pid} (small) score 10 and children." in out
        assert not any(f"process {gone.pid} " in t for t in out)
    finally:
        live.kill()
        live.wait()


def test_with_the_mounts_liveness_test_an_exited_task_is_never_chosen(k):
    """The OOM killer itself asks (sched.task_alive, the mount's look at /proc):
    a process that exited since the last sweep is not walked either."""
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    task = k.sched.tasks.pop(100)          # 'big', 40 pages
    task.pid = gone.pid
    k.sched.tasks[gone.pid] = task
    k.sched.task_alive = lambda pid: pid != gone.pid
    n = len(k.log.records)
    sleeping(k, KERNEL)
    out = texts(k, n)
    assert "Out of Memory: Kill process 200 (small) score 10 and children." in out
    assert gone.pid not in k.sched.tasks
