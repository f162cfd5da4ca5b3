"""`current` and sleeping: what mm/ needs of kernel/sched.c.

The allocator itself never blocks. While a caller that can sleep runs
(`sleep_ok`), an allocation that would sleep records what it waited for in
`sleep_request` and fails; the caller waits for a free (`free_waiters` is called
on every free while someone waits) and retries (see scullcfs/sleep.py).

What 2.6.18's __alloc_pages would do next is in `alloc_next` when it asks to
sleep: "retry" (blk_congestion_wait(HZ/50), then rebalance: order <= 3,
__GFP_REPEAT or __GFP_NOFAIL), "oom" (out_of_memory ran, then restart), "nofail"
(an OOM victim's __GFP_NOFAIL allocation found no page even below the
watermarks: wait and go again). 2.6.18 does each for ever; the mount bounds the
wait (proc/sys/vm/alloc_wait_ms) unless `retry_forever` is set or the mask has
__GFP_NOFAIL (sleep_deadline), see docs/deviations.md. A mempool's sleep
(mempool_alloc) is never bounded, as in 2.6.18.

The tasks the simulator knows (`tasks`, FUSE clients by pid) are what the OOM
killer chooses from (oom_kill.py); the mount forgets a task when its process
exits (exit_task), so that, as 2.6.18's do_each_thread, only live tasks are seen. A task's `total_vm` stands in for
mm->total_vm: the pages the page allocator handed out while it was current,
less the pages freed while it was current (never below 0).

`current` and `free_waiters` are read on every allocation and free, so the
allocators keep their own copy (a CpuView, attached here) that switch_to and
set_free_waiters update: the fast paths read one attribute, as the kernel reads
`current` from the CPU it runs on.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

from .gfp import __GFP_NOFAIL

MAX_TASKS = 4096


class Task:
    """`current`: the process on whose behalf the kernel runs.

    total_vm: pages allocated on its behalf (see the module docstring);
    start_time: uptime (s) when the simulator first saw it; uid: the caller's
    uid when the mount knows it (None: not root); oomkilladj as
    /proc/PID/oom_adj (OOM_DISABLE -17); memdie: TIF_MEMDIE, set by the OOM
    killer; killed: the OOM killer sent it SIGKILL (it is dead: its later
    allocations fail, see oom_kill.py); kthread: no mm (kswapd), never an
    OOM victim."""
    __slots__ = ("_comm", "cpu", "killed", "kthread", "memdie", "oomkilladj", "pid", "start_time",
                 "total_vm", "uid")

    def __init__(self, pid: int, cpu: int, comm: str | None = None, start_time: float = 0.0):
        self.pid = pid
        self.cpu = cpu
        self._comm = comm
        self.total_vm = 0
        self.start_time = start_time
        self.uid: int | None = None
        self.oomkilladj = 0
        self.memdie = False
        self.killed = False
        self.kthread = False

    @property
    def comm(self) -> str:
        if self._comm is None:
            try:
                with open(f"/proc/{self.pid}/comm") as f:
                    self._comm = f.read().strip() or "?"
            except OSError:
                self._comm = f"pid{self.pid}"
        return self._comm


class CpuView(Protocol):
    """A part's copy of what the running CPU knows."""
    current: Task
    free_waiters: Callable[[], None] | None


class Sched:
    """The running task, the CPUs, and the sleeping-allocation handshake.
    Change `current` and `free_waiters` only through switch_to and
    set_free_waiters (the attached views follow)."""

    def __init__(self, nr_cpus: int, uptime: Callable[[], float] = lambda: 0.0):
        self.nr_cpus = nr_cpus
        self.uptime = uptime
        self.current = Task(0, 0, "swapper")
        self.current.kthread = True
        self.tasks: dict[int, Task] = {}
        self.sleep_ok = False
        # (gfp, order) or (gfp, order, mempool): what a failed sleeping allocation waits for
        self.sleep_request: tuple[Any, ...] | None = None
        # what 2.6.18 does next for that request: "retry", "oom" or "nofail"
        self.alloc_next: str | None = None
        # exactly the kernel: a sleeping allocation that 2.6.18 retries waits for ever
        # (a future /proc/sys/vm knob); default False: the mount's bounded wait
        self.retry_forever = False
        self.panic_on_oom = False              # /proc/sys/vm/panic_on_oom
        # the mount's test for a task's process (pid -> still running?): the OOM
        # killer forgets a task whose process is gone (None: every task is live)
        self.task_alive: Callable[[int], bool] | None = None
        self.free_waiters: Callable[[], None] | None = None
        self.views: list[CpuView] = []


def attach_cpu_view(s: Sched, view: CpuView) -> None:
    s.views.append(view)
    view.current = s.current
    view.free_waiters = s.free_waiters


def switch_to(s: Sched, task: Task) -> None:
    """Make task the running one."""
    s.current = task
    for view in s.views:
        view.current = task


def set_free_waiters(s: Sched, waiters: Callable[[], None] | None) -> None:
    """Who to call on every free (None: nobody waits)."""
    s.free_waiters = waiters
    for view in s.views:
        view.free_waiters = waiters


def set_current(s: Sched, pid: int, comm: str | None = None) -> Task:
    """Make `pid` the current task; its CPU is pid % nr_cpus."""
    task = s.tasks.get(pid)
    if task is None:
        if len(s.tasks) > MAX_TASKS:
            s.tasks.clear()
        task = s.tasks[pid] = Task(pid, pid % s.nr_cpus, comm, s.uptime())
    switch_to(s, task)
    return task


def exit_task(s: Sched, pid: int) -> None:
    """The process is gone (the mount knows it exited, or a new process has
    the pid): forget its Task, an OOM victim's death included."""
    task = s.tasks.pop(pid, None)
    if task is not None and s.current is task:
        swapper = Task(0, 0, "swapper")
        swapper.kthread = True
        switch_to(s, swapper)


def sleep_deadline(s: Sched, gfp_mask: int, now: float, wait_s: float, mempool: bool = False,
                   nofail: int = __GFP_NOFAIL) -> float:
    """When a sleeping allocation's wait ends (for the FUSE side): never for a
    mempool's sleep (2.6.18 mempool_alloc: io_schedule_timeout(5*HZ), then
    repeat_alloc, for ever), for __GFP_NOFAIL or with retry_forever (2.6.18's
    __alloc_pages retries for ever), else after the mount's bounded wait.
    `nofail`: the kernel version's __GFP_NOFAIL bit (2.6.18 0x800; 6.18 0x8000)."""
    if mempool or gfp_mask & nofail or s.retry_forever:
        return math.inf
    return now + wait_s
