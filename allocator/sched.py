"""`current` and sleeping: what mm/ needs of kernel/sched.c.

The allocator itself never blocks. While a caller that can sleep runs
(`sleep_ok`), an allocation that would sleep records what it waited for in
`sleep_request` and fails; the caller waits for a free (`free_waiters` is called
on every free while someone waits) and retries (see scullcfs/sleep.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


class Sched:
    """The running task, the CPUs, and the sleeping-allocation handshake."""

    def __init__(self, nr_cpus: int):
        self.nr_cpus = nr_cpus
        self.current = Task(0, 0, "swapper")
        self.tasks: dict[int, Task] = {}
        self.sleep_ok = False
        # (gfp, order) or (gfp, order, mempool): what a failed sleeping allocation waits for
        self.sleep_request: tuple[Any, ...] | None = None
        self.free_waiters: Callable[[], None] | None = None


def set_current(s: Sched, pid: int, comm: str | None = None) -> Task:
    """Make `pid` the current task; its CPU is pid % nr_cpus."""
    task = s.tasks.get(pid)
    if task is None:
        if len(s.tasks) > MAX_TASKS:
            s.tasks.clear()
        task = s.tasks[pid] = Task(pid, pid % s.nr_cpus, comm)
    s.current = task
    return task
