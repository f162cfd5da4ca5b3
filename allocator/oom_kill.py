"""The OOM killer after 2.6.18 mm/oom_kill.c: badness, select_bad_process,
oom_kill_process, out_of_memory.

It chooses among the tasks the simulator knows (sched.tasks: the FUSE clients
seen so far) that are still alive (sched.task_alive, the mount's look at the
host's /proc: 2.6.18's do_each_thread walks only live threads). mm->total_vm
is Task.total_vm (pages allocated on the task's behalf, see sched.py); CPU time
is unknown (0), run time counts from when the simulator first saw the task;
children are unknown (none).

The kill. No signal reaches a real process (docs/deviations.md). The victim is
marked TIF_MEMDIE and `killed`. When the victim is current, its allocation
restarts with TIF_MEMDIE's right to ignore the watermarks (2.6.18), once: then
it is dead. A dead task's later allocations fail at once without a report, as a
process that received SIGKILL makes no more (the mount may end its requests
and call sched.exit_task). A victim that is not current is dead at once: it
holds no memory here whose freeing 2.6.18 would wait for, so
select_bad_process does not wait on it.
"""
from __future__ import annotations

from collections.abc import Callable
from math import isqrt  # lib/int_sqrt.c

from .printk import KERN_EMERG, KERN_ERR, KERN_WARNING, KernelLog
from .sched import Sched, Task, exit_task

OOM_DISABLE = -17


def badness(p: Task, uptime: float) -> int:
    """mm/oom_kill.c badness (2.6.18)."""
    if p.kthread:
        return 0                                  # !p->mm
    points = p.total_vm
    cpu_time = 0                                  # (utime + stime) >> (SHIFT_HZ + 3): unknown
    run_time = (int(uptime) - int(p.start_time)) >> 10 if uptime >= p.start_time else 0
    s = isqrt(cpu_time)
    if s:
        points //= s
    s = isqrt(isqrt(run_time))
    if s:
        points //= s
    if p.uid == 0:                                # CAP_SYS_ADMIN, uid or euid 0
        points //= 4
    if p.oomkilladj:
        if p.oomkilladj > 0:
            points <<= p.oomkilladj
        else:
            points >>= -p.oomkilladj
    return points


def select_bad_process(s: Sched, uptime: float) -> tuple[Task | None, int, bool]:
    """mm/oom_kill.c select_bad_process (2.6.18): (chosen, points, releasing).
    releasing: a task already has TIF_MEMDIE, so wait for it (ERR_PTR(-1))."""
    chosen: Task | None = None
    chosen_points = 0
    alive = s.task_alive
    for p in list(s.tasks.values()):              # do_each_thread, oldest first
        if alive is not None and p.pid > 0 and p is not s.current and not alive(p.pid):
            exit_task(s, p.pid)                   # exited: no longer a thread to walk
            continue
        if p.pid == 1 or (p.killed and not p.memdie):   # init; the dead (PF_DEAD)
            continue
        if p.oomkilladj == OOM_DISABLE:
            continue
        if p.memdie:
            return None, 0, True
        points = badness(p, uptime)
        if points > chosen_points or chosen is None:
            chosen = p
            chosen_points = points
    return chosen, chosen_points, False


def __oom_kill_task(log: KernelLog, p: Task, message: str) -> int:
    if p.pid == 1:
        log.printk(KERN_WARNING, "tried to kill init!")
        return 1
    if p.kthread:
        log.printk(KERN_WARNING, "tried to kill an mm-less task!")
        return 1
    log.printk(KERN_ERR, f"{message}: Killed process {p.pid} ({p.comm}).")
    p.memdie = True                               # set_tsk_thread_flag(p, TIF_MEMDIE)
    p.killed = True                               # force_sig(SIGKILL, p)
    return 0


def oom_kill_task(log: KernelLog, p: Task, message: str) -> int:
    """oom_kill_task: 1 for a task without an mm (not killed)."""
    if p.kthread:
        return 1
    return __oom_kill_task(log, p, message)


def oom_kill_process(log: KernelLog, p: Task, points: int, message: str) -> int:
    """oom_kill_process (2.6.18): children first (none known), then p."""
    log.printk(KERN_ERR, f"Out of Memory: Kill process {p.pid} ({p.comm}) score {points} and children.")
    return oom_kill_task(log, p, message)


def out_of_memory(s: Sched, log: KernelLog, gfp_mask: int, order: int, constrained: bool,
                  report: Callable[[], None]) -> Task | None:
    """mm/oom_kill.c out_of_memory (2.6.18). `constrained`: constrained_alloc
    found an online node with no zone in the zonelist (CONFIG_NUMA:
    CONSTRAINT_MEMORY_POLICY, current is killed). `report` prints dump_stack
    and show_mem. Returns the task marked TIF_MEMDIE, if any."""
    if log.ratelimit():
        log.printk(KERN_WARNING, f"oom-killer: gfp_mask=0x{gfp_mask:x}, order={order}")
        report()
    current = s.current
    if constrained:
        oom_kill_process(log, current, 0, "No available memory (MPOL_BIND)")
        return current if current.memdie else None
    if s.panic_on_oom:
        log.printk(KERN_EMERG, "Kernel panic - not syncing: out of memory. panic_on_oom is selected")
        return None
    tried: set[int] = set()
    while True:
        p, points, releasing = select_bad_process(s, s.uptime())
        if releasing:
            return None
        if p is None or p.pid in tried:
            # 2.6.18 panics here ("Found nothing?!?!"); the simulator logs it and goes on
            log.printk(KERN_EMERG, "Kernel panic - not syncing: Out of memory and no killable processes...")
            return None
        if not oom_kill_process(log, p, points, "Out of memory"):
            if p is not current:
                p.memdie = False                  # dead at once: nothing of it to free here
            return p
        tried.add(p.pid)
