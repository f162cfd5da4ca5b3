"""The simulated machine: one object that owns memory, zones, caches and the log."""
from __future__ import annotations

import time
from typing import Callable, Optional

from .background import populate_background
from .kmalloc import KmallocMixin
from .mempool import MempoolMixin
from .page_alloc import PageAllocatorMixin
from .physmem import PAGE_SIZE, PhysMem
from .printk import KERN_INFO, KERN_NOTICE, KernelLog
from .faults import FaultAttr
from .slab import SlabMixin
from .vmalloc import VmallocMixin
from .slab_debug import SlabDebugMixin

_SIZE_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """`1G`, `512M`, `65536K` or a plain byte count."""
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in _SIZE_SUFFIXES:
        mult = _SIZE_SUFFIXES[t[-1]]
        t = t[:-1]
    try:
        value = int(t, 0)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (use a number with K, M or G)") from None
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value * mult


class Task:
    """`current`: the process on whose behalf the kernel runs."""
    __slots__ = ("pid", "cpu", "_comm")

    def __init__(self, pid: int, cpu: int, comm: Optional[str] = None):
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


VM_EVENTS = ("pgfree", "allocstall", "slabs_scanned", "pgalloc_fail", "drop_slab")


class Kernel(PageAllocatorMixin, SlabDebugMixin, SlabMixin, KmallocMixin, MempoolMixin, VmallocMixin):
    """A 2.6-era i386 kernel's memory management, without the rest of the kernel.

    Kernel(mem=1 << 30, nodes=1, cpus=2) boots: zones and watermarks, the buddy
    lists, and the general kmalloc caches. Every address it hands out is a
    physical address into `self.mem`.
    """

    def __init__(self, mem: int = 1 << 30, nodes: int = 1, cpus: int = 2,
                 page_size: int = PAGE_SIZE, slab_debug: bool = False, background: float = 0,
                 clock: Callable[[], float] = time.monotonic):
        if page_size != PAGE_SIZE:
            raise ValueError(f"only {PAGE_SIZE}-byte pages are simulated (i386)")
        if mem < (4 << 20) or mem % PAGE_SIZE:
            raise ValueError("memory must be at least 4M and a multiple of the page size")
        if mem > (64 << 30):
            raise ValueError("memory above 64G is more than i386 PAE addresses")
        if not 1 <= nodes <= 64 or mem // nodes < (4 << 20):
            raise ValueError("nodes must be 1..64, with at least 4M each")
        if not 1 <= cpus <= 256:
            raise ValueError("cpus must be 1..256")
        self.cpus = cpus
        self.numa = nodes > 1
        self.slab_debug = slab_debug
        if slab_debug:
            self._slab_debug_setup()
        self.failslab = FaultAttr("failslab")
        self.fail_page_alloc = FaultAttr("fail_page_alloc")
        self.failslab_armed = self.fail_page_alloc_armed = False
        self.slab_slow = self.page_slow = False
        self.trace_hook: Optional[Callable] = None
        # Sleeping allocations. The allocator itself never blocks: while a caller
        # that can sleep runs (sleep_ok), an allocation that would sleep records
        # (gfp, order) in sleep_request and fails; the caller waits for a free
        # (free_waiters is called on every free while someone waits) and retries.
        self.sleep_ok = False
        self.sleep_request: Optional[tuple] = None
        self.free_waiters: Optional[Callable[[], None]] = None
        self.log = KernelLog(clock=clock)
        self.vm_events = dict.fromkeys(VM_EVENTS, 0)
        self.current = Task(0, 0, "swapper")
        self._tasks: dict[int, Task] = {}
        self.mem = PhysMem(mem)
        self._page_alloc_init(mem, nodes, cpus)
        self._slab_init(cpus)
        self.log.printk(KERN_NOTICE, "Linux version 2.6.18-scullcfs (i386 simulation)")
        self.log.printk(KERN_INFO, f"{mem >> 20}MB LOWMEM/HIGHMEM available, {nodes} node(s), {cpus} CPU(s).")
        for zone in self.zones:
            self.log.printk(KERN_INFO, f"  Node {zone.node.id} {zone.name} zone: {zone.present} pages")
        self._kmalloc_init()
        self._vmalloc_init()
        self.dropping_caches = False
        self.background: dict = {}
        if background:
            populate_background(self, background)
        self.log.printk(KERN_INFO, f"Memory: {self.nr_free_pages() * 4}k/{mem >> 10}k available,"
                                   f" min_free_kbytes {self.min_free_kbytes}")

    def update_fault_injection(self) -> None:
        """Call after changing a fault attribute or k.trace_hook: the allocation
        fast paths test one flag each and leave everything unusual to the
        general paths."""
        self.failslab_armed = self.failslab.probability > 0
        self.fail_page_alloc_armed = self.fail_page_alloc.probability > 0
        self.slab_slow = self.failslab_armed or self.trace_hook is not None
        self.page_slow = self.fail_page_alloc_armed or self.trace_hook is not None

    update_slow_paths = update_fault_injection

    def set_current(self, pid: int, comm: Optional[str] = None) -> Task:
        """Make `pid` the current task; its CPU is pid % cpus."""
        task = self._tasks.get(pid)
        if task is None:
            if len(self._tasks) > 4096:
                self._tasks.clear()
            task = self._tasks[pid] = Task(pid, pid % self.cpus, comm)
        self.current = task
        return task

    def close(self) -> None:
        self.mem.close()
