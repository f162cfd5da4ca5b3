"""A Kernel-less Linux 6.18 page allocator for the renderer tests
(test_618_procfs, test_618_show_mem, test_618_oom), and the captures.

    pa = boot(mem=64 << 20, cpus=2)     # allocator.linux618.page_alloc.PageAllocator
    capture("meminfo")                  # tests/data/linux-6.18/meminfo, as text
"""
from __future__ import annotations

from pathlib import Path

from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618.page_alloc import PageAllocator, phys_end
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat
from kernel_fixtures import FakeClock

DATA = Path(__file__).parent / "data" / "linux-6.18"


def capture(name: str) -> str:
    """A file recorded from the real 6.18 kernel (see its .cmd and README.txt)."""
    return (DATA / name).read_text()


def boot(mem: int = 64 << 20, cpus: int = 2, nodes: int = 1,
         clock: FakeClock | None = None) -> PageAllocator:
    """The 6.18 page allocator of an x86_64 machine with `mem` bytes of RAM."""
    log = KernelLog(clock=clock if clock is not None else FakeClock())
    sched = Sched(cpus, log.uptime)
    vmstat = VmStat()
    return PageAllocator(X86_64, PhysMem(phys_end(X86_64, mem)), log, sched, vmstat,
                         FaultInject(log), KmemTrace(), Vmscan(vmstat), nodes, ram=mem)
