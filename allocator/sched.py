"""`current` and sleeping: what mm/ needs of kernel/sched.c.

The allocator itself never blocks. While a caller that can sleep runs
(`sleep_ok`), an allocation that would sleep records what it waited for in
`sleep_request` and fails; the caller waits for a free (`free_waiters` is called
on every free while someone waits) and retries (see scullcfs/sleep.py).

`current` and `free_waiters` are read on every allocation and free, so the
allocators keep their own copy (a CpuView, attached here) that switch_to and
set_free_waiters update: the fast paths read one attribute, as the kernel reads
`current` from the CPU it runs on.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

MAX_TASKS = 4096


class Task:
    """`current`: the process on whose behalf the kernel runs."""
    __slots__ = ("_comm", "cpu", "pid")

    def __init__(self, pid: int, cpu: int, comm: str | None = None):
        self.pid = pid
        self.cpu = cpu
        self._comm = comm

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

    def __init__(self, nr_cpus: int):
        self.nr_cpus = nr_cpus
        self.current = Task(0, 0, "swapper")
        self.tasks: dict[int, Task] = {}
        self.sleep_ok = False
        # (gfp, order) or (gfp, order, mempool): what a failed sleeping allocation waits for
        self.sleep_request: tuple[Any, ...] | None = None
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
        task = s.tasks[pid] = Task(pid, pid % s.nr_cpus, comm)
    switch_to(s, task)
    return task
