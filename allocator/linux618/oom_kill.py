"""The OOM killer of Linux 6.18 (mm/oom_kill.c): oom_badness,
select_bad_process, dump_header, oom_kill_process, the oom_reaper, out_of_memory.

It chooses among the tasks the simulator knows (sched.tasks: the FUSE clients
seen so far, oldest first, as for_each_process walks them). What stands for a
task's memory is what allocator/oom_kill.py uses for 2.6.18: Task.total_vm,
the pages allocated on its behalf; it is the task's rss (all anonymous: no
file or shmem pages) and its total_vm. Nothing is mapped, so there are no page
tables (pgtables_bytes 0) and no swap entries.

The kill. No signal reaches a real process (docs/deviations.md). The victim is
marked as 6.18 marks it (mark_oom_victim: Task.memdie, tsk_is_oom_victim) and
killed (Task.killed: SIGKILL sent); the page allocator (allocator/linux618/
page_alloc.py) gives a victim ALLOC_OOM access and decides what becomes of a
dead task's later allocations. The oom_reaper, which 6.18 runs 2 s later in
its own thread (queue_oom_reaper's OOM_REAPER_DELAY), runs at once here: the
victim has no user memory to unmap, so the reap always succeeds, prints its
line and sets MMF_OOM_SKIP, after which select_bad_process passes the victim
over. oom_score_adj and MMF_OOM_SKIP are kept per task here (oom_state).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, cast

from ..printk import HZ, KERN_EMERG, KERN_ERR, KERN_INFO, KERN_WARNING
from ..sched import Task
from .gfp import __GFP_FS, gfp_format, gfp_zone
from .page_alloc import RatelimitState, __ratelimit
from .procfs import K, global_node_page_state_pages
from .show_mem import SHOW_MEM_FILTER_NODES, __show_mem, dump_stack, mems_allowed

if TYPE_CHECKING:
    from .page_alloc import PageAllocator
    from .slub import SlabAllocator

OOM_SCORE_ADJ_MIN = -1000       # include/uapi/linux/oom.h
OOM_SCORE_ADJ_MAX = 1000
LONG_MIN = -(1 << 63)
LONG_MAX = (1 << 63) - 1
PAGE_SIZE = 4096
# enum oom_constraint's names (oom_constraint_text)
CONSTRAINT_NONE, CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY, CONSTRAINT_MEMCG = range(4)
OOM_CONSTRAINT_TEXT = ("CONSTRAINT_NONE", "CONSTRAINT_CPUSET", "CONSTRAINT_MEMORY_POLICY",
                       "CONSTRAINT_MEMCG")
ABORT = "abort"                 # oc->chosen = (void *)-1UL

# one unreclaimable slab cache for dump_unreclaimable_slab: (name, used kB, total kB)
SlabRow = tuple[str, int, int]


@dataclass
class OomState:
    """The OOM killer's per-kernel state: each task's oom_score_adj
    (/proc/PID/oom_score_adj, signal->oom_score_adj), the tasks whose mm has
    MMF_OOM_SKIP, the sysctls, oom_lock's ratelimits, and where the
    unreclaimable slab caches come from (the slab allocator's, set by whoever
    builds the kernel; None: none to show)."""
    score_adj: dict[Task, int] = field(default_factory=dict)
    victims: set[Task] = field(default_factory=set)    # signal->oom_mm set: for good
    oom_skip: set[Task] = field(default_factory=set)
    oom_dump_tasks: bool = True                # sysctl_oom_dump_tasks
    oom_kill_allocating_task: bool = False     # sysctl_oom_kill_allocating_task
    oom_killer_disabled: bool = False          # oom_killer_disable() (suspend)
    # oom_kill_process's oom_rs: DEFAULT_RATELIMIT_INTERVAL (5 * HZ), DEFAULT_RATELIMIT_BURST
    oom_rs: RatelimitState = field(default_factory=lambda: RatelimitState(5 * HZ, 10))
    unreclaimable_slab: Callable[[], list[SlabRow]] | None = None
    kills: int = 0


def oom_state(pa: PageAllocator) -> OomState:
    """pa's OOM killer state (made on first use, kept in pa.oom_state)."""
    st = pa.oom_state
    if st is None:
        st = pa.oom_state = OomState()
    return cast(OomState, st)


def oom_score_adj(pa: PageAllocator, p: Task) -> int:
    return oom_state(pa).score_adj.get(p, 0)


def set_oom_score_adj(pa: PageAllocator, p: Task, value: int) -> None:
    """A write to /proc/PID/oom_score_adj: -1000..1000 (ValueError otherwise)."""
    if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
        raise ValueError(f"oom_score_adj {value} not in [-1000, 1000]")
    oom_state(pa).score_adj[p] = value


# -- what stands for the mm's counters ------------------------------------------


def get_mm_rss(p: Task) -> int:
    """get_mm_rss(p->mm): the pages allocated on the task's behalf."""
    return max(p.total_vm, 0)


def get_mm_counter(p: Task, member: str) -> int:
    """MM_ANONPAGES is the rss; MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS are 0."""
    return get_mm_rss(p) if member == "MM_ANONPAGES" else 0


def mm_pgtables_bytes(p: Task) -> int:
    return 0


def oom_unkillable_task(p: Task) -> bool:
    """mm/oom_kill.c oom_unkillable_task: the global init, kernel threads."""
    return p.pid == 1 or p.kthread


def tsk_is_oom_victim(pa: PageAllocator, p: Task) -> bool:
    """tsk_is_oom_victim: marked by mark_oom_victim, for the rest of its life
    (Task.memdie, the page allocator's right to ALLOC_OOM, may end before)."""
    return p.memdie or p in oom_state(pa).victims


def oom_badness(pa: PageAllocator, p: Task, totalpages: int) -> int:
    """mm/oom_kill.c oom_badness: rss + swap entries + page table pages, plus
    oom_score_adj in thousandths of totalpages; LONG_MIN for the unkillable,
    oom_score_adj -1000 and an mm with MMF_OOM_SKIP."""
    if oom_unkillable_task(p):
        return LONG_MIN
    adj = oom_score_adj(pa, p)
    if adj == OOM_SCORE_ADJ_MIN or p in oom_state(pa).oom_skip:
        return LONG_MIN
    points = get_mm_rss(p) + get_mm_counter(p, "MM_SWAPENTS") + mm_pgtables_bytes(p) // PAGE_SIZE
    adj *= totalpages // 1000
    return points + adj


@dataclass
class OomControl:
    """struct oom_control (no memcg, no nodemask: no mempolicy here)."""
    gfp_mask: int
    order: int
    totalpages: int = 0
    constraint: int = CONSTRAINT_NONE
    chosen: Task | str | None = None
    chosen_points: int = LONG_MIN


def oom_evaluate_task(pa: PageAllocator, task: Task, oc: OomControl) -> bool:
    """mm/oom_kill.c oom_evaluate_task: True aborts the scan (a victim that
    is not reaped yet will free memory: wait for it)."""
    if oom_unkillable_task(task):
        return False
    if tsk_is_oom_victim(pa, task):
        if task in oom_state(pa).oom_skip:
            return False
        oc.chosen = ABORT
        return True
    points = oom_badness(pa, task, oc.totalpages)
    if points == LONG_MIN or points < oc.chosen_points:
        return False
    oc.chosen = task
    oc.chosen_points = points
    return False


def select_bad_process(pa: PageAllocator, oc: OomControl) -> None:
    """mm/oom_kill.c select_bad_process: for_each_process, the highest
    badness wins (a later task wins a tie)."""
    oc.chosen_points = LONG_MIN
    for p in list(pa.sched.tasks.values()):
        if oom_evaluate_task(pa, p, oc):
            break


# -- the report -------------------------------------------------------------------


def dump_tasks(pa: PageAllocator) -> list[str]:
    """mm/oom_kill.c dump_tasks / dump_task: every killable task with an mm."""
    lines = ["Tasks state (memory values in pages):",
             "[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem"
             " pgtables_bytes swapents oom_score_adj name"]
    for p in pa.sched.tasks.values():
        if oom_unkillable_task(p):
            continue
        uid = p.uid if p.uid is not None else 0
        lines.append(f"[{p.pid:7d}] {uid:5d} {p.pid:5d} {get_mm_rss(p):8d} {get_mm_rss(p):8d}"
                     f" {get_mm_counter(p, 'MM_ANONPAGES'):8d} {get_mm_counter(p, 'MM_FILEPAGES'):8d}"
                     f" {get_mm_counter(p, 'MM_SHMEMPAGES'):9d} {mm_pgtables_bytes(p):8d}"
                     f" {get_mm_counter(p, 'MM_SWAPENTS'):8d}         {oom_score_adj(pa, p):5d}"
                     f" {p.comm}")
    return lines


def should_dump_unreclaim_slab(pa: PageAllocator) -> bool:
    """mm/oom_kill.c should_dump_unreclaim_slab: unreclaimable slab pages
    outnumber the LRU pages."""
    nr_lru = sum(global_node_page_state_pages(pa, item)
                 for item in ("nr_active_anon", "nr_inactive_anon", "nr_active_file",
                              "nr_inactive_file", "nr_isolated_anon", "nr_isolated_file",
                              "nr_unevictable"))
    return global_node_page_state_pages(pa, "nr_slab_unreclaimable") > nr_lru


def dump_unreclaimable_slab(pa: PageAllocator) -> list[str]:
    """mm/slab_common.c dump_unreclaimable_slab: the caches without
    SLAB_RECLAIM_ACCOUNT that have objects, `"%-17s %10luKB %10luKB"`."""
    rows = oom_state(pa).unreclaimable_slab
    lines = ["Unreclaimable slab info:", "Name                      Used          Total"]
    for name, used, total in rows() if rows is not None else []:
        lines.append(f"{name:<17} {used:10d}KB {total:10d}KB")
    return lines


def slab_unreclaimable_rows(sl: SlabAllocator) -> list[SlabRow]:
    """dump_unreclaimable_slab's rows from SLUB: every cache on slab_caches
    (newest first) without SLAB_RECLAIM_ACCOUNT that has objects, its
    active and total objects (get_slabinfo) times s->size, in kB."""
    from .slub import SLAB_RECLAIM_ACCOUNT, get_slabinfo
    rows: list[SlabRow] = []
    for s in sl.slab_caches:
        if s.flags & SLAB_RECLAIM_ACCOUNT:
            continue
        active_objs, num_objs = get_slabinfo(s)[:2]
        if num_objs > 0:
            rows.append((s.name, active_objs * s.size // 1024, num_objs * s.size // 1024))
    return rows


def attach_slab(pa: PageAllocator, sl: SlabAllocator) -> None:
    """Let the OOM report list sl's unreclaimable caches (dump_unreclaimable_slab)."""
    oom_state(pa).unreclaimable_slab = lambda: slab_unreclaimable_rows(sl)


def dump_header(pa: PageAllocator, oc: OomControl, frame: FrameType | None = None,
                top: tuple[str, ...] = ("dump_stack_lvl", "dump_header", "out_of_memory")) -> None:
    """mm/oom_kill.c dump_header: who invoked the OOM killer, dump_stack(),
    __show_mem(SHOW_MEM_FILTER_NODES, NULL, gfp_zone(gfp)), the unreclaimable
    slab caches when they dominate, the tasks (sysctl_oom_dump_tasks)."""
    cur = pa.current
    pa.log.printk(KERN_WARNING, f"{cur.comm} invoked oom-killer: gfp_mask={oc.gfp_mask:#x}"
                                f"({gfp_format(oc.gfp_mask)}), order={oc.order},"
                                f" oom_score_adj={oom_score_adj(pa, cur)}")
    pa.log.printk(KERN_WARNING, dump_stack(pa, top, frame if frame is not None else sys._getframe(1)))
    pa.log.printk(KERN_WARNING, "\n".join(
        __show_mem(pa, SHOW_MEM_FILTER_NODES, None, gfp_zone(oc.gfp_mask))))
    if should_dump_unreclaim_slab(pa):
        pa.log.printk(KERN_INFO, "\n".join(dump_unreclaimable_slab(pa)))
    if oom_state(pa).oom_dump_tasks:
        pa.log.printk(KERN_INFO, "\n".join(dump_tasks(pa)))


def dump_oom_victim(pa: PageAllocator, oc: OomControl, victim: Task) -> None:
    """mm/oom_kill.c dump_oom_victim: the one-line summary (no memcg: the
    root cgroup; cpuset_print_current_mems_allowed)."""
    uid = victim.uid if victim.uid is not None else 0
    pa.log.printk(KERN_INFO, f"oom-kill:constraint={OOM_CONSTRAINT_TEXT[oc.constraint]},"
                             f"nodemask=(null),cpuset=/,mems_allowed={mems_allowed(pa)},"
                             f"global_oom,task_memcg=/,task={victim.comm},pid={victim.pid},uid={uid}")


def mark_oom_victim(pa: PageAllocator, tsk: Task) -> None:
    """mm/oom_kill.c mark_oom_victim: tsk_is_oom_victim from now on (the
    oom/mark_victim trace event is the tracing part's)."""
    tsk.memdie = True
    oom_state(pa).victims.add(tsk)


def oom_reap_task(pa: PageAllocator, tsk: Task) -> None:
    """mm/oom_kill.c oom_reap_task / oom_reap_task_mm: unmap what can be
    unmapped (all of it: nothing is mapped here), print the result, set
    MMF_OOM_SKIP."""
    st = oom_state(pa)
    if tsk not in st.oom_skip:
        pa.log.printk(KERN_INFO, f"oom_reaper: reaped process {tsk.pid} ({tsk.comm}),"
                                 " now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB")
    st.oom_skip.add(tsk)


def queue_oom_reaper(pa: PageAllocator, tsk: Task) -> None:
    """queue_oom_reaper: the reaper runs at once here (see the module docstring)."""
    oom_reap_task(pa, tsk)


def task_will_free_mem(p: Task) -> bool:
    """task_will_free_mem: the task is exiting or has SIGKILL pending (and is not
    a kernel thread); its memory will be freed without another kill."""
    return p.killed and not p.kthread


def __oom_kill_process(pa: PageAllocator, victim: Task, message: str) -> None:
    """mm/oom_kill.c __oom_kill_process: count OOM_KILL, SIGKILL the victim,
    mark it, print the kill, queue the reaper."""
    pa.vm_events["oom_kill"] = pa.vm_events.get("oom_kill", 0) + 1
    victim.killed = True                        # do_send_sig_info(SIGKILL, ...)
    mark_oom_victim(pa, victim)
    uid = victim.uid if victim.uid is not None else 0
    pa.log.printk(KERN_ERR, f"{message}: Killed process {victim.pid} ({victim.comm})"
                            f" total-vm:{K(get_mm_rss(victim))}kB,"
                            f" anon-rss:{K(get_mm_counter(victim, 'MM_ANONPAGES'))}kB,"
                            f" file-rss:{K(get_mm_counter(victim, 'MM_FILEPAGES'))}kB,"
                            f" shmem-rss:{K(get_mm_counter(victim, 'MM_SHMEMPAGES'))}kB,"
                            f" UID:{uid} pgtables:{mm_pgtables_bytes(victim) >> 10}kB"
                            f" oom_score_adj:{oom_score_adj(pa, victim)}")
    oom_state(pa).kills += 1
    queue_oom_reaper(pa, victim)


def oom_kill_process(pa: PageAllocator, oc: OomControl, message: str,
                     frame: FrameType | None = None) -> None:
    """mm/oom_kill.c oom_kill_process: a victim already on its way out is
    only marked; otherwise the report (ratelimited: dump_header and
    dump_oom_victim) and the kill."""
    victim = oc.chosen
    assert isinstance(victim, Task)
    if task_will_free_mem(victim):
        mark_oom_victim(pa, victim)
        queue_oom_reaper(pa, victim)
        return
    if __ratelimit(pa, oom_state(pa).oom_rs, "oom_kill_process"):
        dump_header(pa, oc, frame if frame is not None else sys._getframe(1),
                    ("dump_stack_lvl", "dump_header", "oom_kill_process", "out_of_memory"))
        dump_oom_victim(pa, oc, victim)
    __oom_kill_process(pa, victim, message)


def panic(pa: PageAllocator, text: str) -> None:
    """panic(): the simulated kernel goes on (docs/deviations.md); the line is logged."""
    pa.log.printk(KERN_EMERG, f"Kernel panic - not syncing: {text}")


def out_of_memory(pa: PageAllocator, gfp_mask: int, order: int) -> bool:
    """mm/oom_kill.c out_of_memory for the page allocator's
    __alloc_pages_may_oom: True when the allocation may retry (a victim was
    chosen, one is still dying, or a GFP_NOFS/NOIO request that the OOM
    killer does not serve), False when nothing can be done (no killable task,
    panic_on_oom, the OOM killer disabled). The no-kill rules of the slow path
    (costly orders, __GFP_RETRY_MAYFAIL, __GFP_THISNODE, lowmem zones) are the
    page allocator's, before it calls this."""
    st = oom_state(pa)
    if st.oom_killer_disabled:
        return False
    frame = sys._getframe(1)
    current = pa.current
    if task_will_free_mem(current):
        mark_oom_victim(pa, current)
        queue_oom_reaper(pa, current)
        return True
    if not gfp_mask & __GFP_FS:
        return True
    oc = OomControl(gfp_mask, order)
    oc.constraint = CONSTRAINT_NONE             # constrained_alloc: no mempolicy or cpuset here
    oc.totalpages = pa.totalram_pages          # + total_swap_pages (none)
    if pa.sched.panic_on_oom:                   # check_panic_on_oom
        dump_header(pa, oc, frame)
        panic(pa, "Out of memory: system-wide panic_on_oom is enabled")
        return False
    if st.oom_kill_allocating_task and not oom_unkillable_task(current) \
            and oom_score_adj(pa, current) != OOM_SCORE_ADJ_MIN:
        oc.chosen = current
        oom_kill_process(pa, oc, "Out of memory (oom_kill_allocating_task)", frame)
        return True
    select_bad_process(pa, oc)
    if oc.chosen is None:
        dump_header(pa, oc, frame)
        pa.log.printk(KERN_WARNING, "Out of memory and no killable processes...")
        panic(pa, "System is deadlocked on memory")
        return False
    if isinstance(oc.chosen, Task):
        oom_kill_process(pa, oc, "Out of memory", frame)
    return True
