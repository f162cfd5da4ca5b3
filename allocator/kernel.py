"""The simulated machine: one object that builds the parts a kernel version
declares and keeps the kernel-named API (k.kmem_cache_alloc, k.kmalloc, ...).

Every API function is the part's module-level function bound once to the
part's state (`types.MethodType`), so a call through the facade costs no extra
Python frame. Read-only properties expose state for the renderers and tests;
the query methods at the end are what the filesystem side asks.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from types import MethodType
from typing import Any

from . import background as BG
from . import mempool as MP
from . import page_alloc as PA
from . import sched as SC
from . import vmalloc as VM
from . import vmscan as VS
from ._pure import select, twin
from .fault_inject import FaultAttr, FaultInject, update_fault_attrs
from .mempool import Mempool
from .page_alloc import Node, PageAllocator, PageOwner, Zone
from .physmem import PhysMem
from .printk import KERN_INFO, KERN_NOTICE, KernelLog
from .sched import Sched, Task
from .slab import (
    KmemCache,
    SlabAllocator,
    cache_cpu_objects,
    cache_partial_slabs,
    slab_object_is_live,
)
from .trace import KmemTrace, TraceHook, register_call_sites
from .versions import DEFAULT_VERSION, KernelVersion, kernel_version
from .vmalloc import Vmalloc, VmStruct
from .vmscan import Vmscan
from .vmstat import VmStat, nr_slab_pages

__all__ = ["Kernel", "Task", "parse_size"]

_SIZE_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_MEM = 4 << 20          # per machine and per node
MAX_NODES, MAX_CPUS = 64, 256

# Kernel functions with double-underscore names, bound under names that
# Python does not mangle inside the class body below.
_get_free_pages = PA.__get_free_pages
_free_pages = PA.__free_pages
_vmalloc = VM.__vmalloc


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


class Kernel:
    """A kernel version's memory management, without the rest of the kernel.

    Kernel(version="2.6.18", mem=1 << 30, nodes=1, cpus=2) boots: zones and
    watermarks, the buddy lists, and the general kmalloc caches. Every address
    it hands out is a physical address into `self.mem`.
    """

    # the parts
    version: KernelVersion
    log: KernelLog
    mem: PhysMem
    sched: Sched
    vmstat: VmStat
    faults: FaultInject
    trace: KmemTrace
    vmscan: Vmscan
    page_alloc: PageAllocator
    slab: SlabAllocator
    vmalloc_area: Vmalloc
    mempools: MP.Mempools
    background_caches: BG.Background

    # mm/slab.c
    kmem_cache_create: Callable[..., KmemCache | None]
    kmem_cache_alloc: Callable[[KmemCache, int], int | None]
    kmem_cache_free: Callable[[KmemCache, int], None]
    kmem_cache_shrink: Callable[[KmemCache], int]
    kmem_cache_destroy: Callable[[KmemCache], int]
    kmalloc: Callable[[int, int], int | None]
    kzalloc: Callable[[int, int], int | None]
    kcalloc: Callable[[int, int, int], int | None]
    kfree: Callable[[int | None], None]
    ksize: Callable[[int | None], int]
    kmalloc_cache_for: Callable[[int, int], KmemCache | None]
    find_cache: Callable[[str], KmemCache | None]
    cache_reap: Callable[[], None]
    slabinfo_write: Callable[[bytes], int]
    do_tune_cpucache: Callable[[KmemCache, int, int, int], None]
    # mm/page_alloc.c
    alloc_pages: Callable[..., int | None]
    get_free_pages: Callable[[int, int], int | None]
    get_zeroed_page: Callable[[int], int | None]
    free_pages_pfn: Callable[..., bool]
    free_pages: Callable[[int, int], bool]
    nr_free_pages: Callable[[], int]
    zone_of: Callable[[int], Zone]
    drain_all_pages: Callable[[], None]
    set_min_free_kbytes: Callable[[int], None]
    warn_alloc_failure: Callable[[int, int], None]
    show_mem: Callable[[], str]
    kswapd_run: Callable[[], int]
    struct_page_address: Callable[[int], int]
    page_owner: Callable[[int], PageOwner | None]
    page_block_order: Callable[[int], int | None]
    # mm/vmscan.c
    shrink_slab: Callable[[int], int]
    # mm/mempool.c
    mempool_create: Callable[..., Mempool | None]
    mempool_resize: Callable[[Mempool, int, int], int]
    mempool_destroy: Callable[[Mempool | None], bool]
    mempool_alloc: Callable[[Mempool, int], Any]
    mempool_free: Callable[[Any, Mempool], None]
    mempool_add_waiter: Callable[[Mempool, Callable[[], None]], None]
    mempool_remove_waiter: Callable[[Mempool, Callable[[], None]], None]
    mempool_alloc_slab: Callable[[int, KmemCache], int | None]
    mempool_free_slab: Callable[[int, KmemCache], None]
    mempool_kmalloc: Callable[[int, int], int | None]
    mempool_kfree: Callable[[int, int], None]
    mempool_alloc_pages: Callable[[int, int], int | None]
    mempool_free_pages: Callable[[int, int], None]
    mempool_create_slab_pool: Callable[[int, KmemCache], Mempool | None]
    mempool_create_kmalloc_pool: Callable[[int, int], Mempool | None]
    mempool_create_page_pool: Callable[[int, int], Mempool | None]
    # mm/vmalloc.c
    vmalloc: Callable[..., int | None]
    vmalloc_32: Callable[..., int | None]
    vmalloc_gfp: Callable[..., int | None]
    vfree: Callable[[int | None], None]
    get_vm_area: Callable[..., VmStruct | None]
    find_vm_area: Callable[[int], VmStruct | None]
    remove_vm_area: Callable[[int], VmStruct | None]
    vmalloc_to_pfn: Callable[[int], int | None]
    vmalloc_read: Callable[[int, int], Any]
    vmalloc_write: Callable[[int, Any], int]
    vmalloc_zero: Callable[[int, int], int]
    vmalloc_check: Callable[[], list[str]]
    vmalloc_info: Callable[[], tuple[int, int, int]]

    def __init__(self, mem: int = 1 << 30, nodes: int = 1, cpus: int = 2,
                 page_size: int | None = None, slab_debug: bool = False, background: float = 0,
                 clock: Callable[[], float] = time.monotonic, version: str = DEFAULT_VERSION):
        v = self.version = kernel_version(version)
        arch = v.arch
        if page_size is not None and page_size != arch.page_size:
            raise ValueError(f"only {arch.page_size}-byte pages are simulated ({arch.name})")
        if mem < MIN_MEM or mem % arch.page_size:
            raise ValueError("memory must be at least 4M and a multiple of the page size")
        if mem > arch.max_mem:
            raise ValueError(f"memory above {arch.max_mem >> 30}G is more than {arch.name} PAE addresses")
        if not 1 <= nodes <= MAX_NODES or mem // nodes < MIN_MEM:
            raise ValueError("nodes must be 1..64, with at least 4M each")
        if not 1 <= cpus <= MAX_CPUS:
            raise ValueError("cpus must be 1..256")
        self.slab_debug = slab_debug
        log = self.log = KernelLog(clock=clock)
        self.mem = PhysMem(mem)
        sched = self.sched = Sched(cpus, log.uptime)
        vmstat = self.vmstat = VmStat()
        faults = self.faults = FaultInject(log)
        trace = self.trace = KmemTrace()
        vmscan = self.vmscan = Vmscan(vmstat)
        pa = self.page_alloc = PageAllocator(arch, self.mem, log, sched, vmstat, faults, trace, vmscan, nodes)
        sl = self.slab = v.slab.SlabAllocator(arch, pa, log, sched, vmstat, faults, trace, vmscan,
                                              slab_debug)
        self._bind_page_alloc(pa)
        self._bind_slab(v, sl)
        log.printk(KERN_NOTICE, f"Linux version {v.release}-scullcfs ({arch.name} simulation)")
        log.printk(KERN_INFO, f"{mem >> 20}MB LOWMEM/HIGHMEM available, {nodes} node(s), {cpus} CPU(s).")
        for zone in pa.zones:
            log.printk(KERN_INFO, f"  Node {zone.node.id} {zone.name} zone: {zone.present} pages")
        # slab debugging names callers from Python frames: a compiled build boots on its pure twin
        (twin(v.slab) if slab_debug else v.slab).kmem_cache_init(sl)
        self.vmalloc_area = Vmalloc(arch, pa, sl, self.mem, log)
        self.mempools = MP.Mempools(sl, pa, log, sched)
        self._bind_vmalloc(self.vmalloc_area)
        self._bind_mempool(self.mempools)
        self.shrink_slab = MethodType(VS.shrink_slab, vmscan)
        self.background_caches = ((twin(BG) if slab_debug else BG).populate_background(sl, vmscan, background)
                                  if background else BG.Background())
        select(self, slab_debug)
        log.printk(KERN_INFO, f"Memory: {self.nr_free_pages() * (arch.page_size >> 10)}k/{mem >> 10}k"
                              f" available, min_free_kbytes {pa.min_free_kbytes}")

    # -- binding the API ----------------------------------------------------

    def _bind_page_alloc(self, pa: PageAllocator) -> None:
        self.alloc_pages = MethodType(PA.alloc_pages, pa)
        self.get_free_pages = MethodType(_get_free_pages, pa)
        self.get_zeroed_page = MethodType(PA.get_zeroed_page, pa)
        self.free_pages_pfn = MethodType(_free_pages, pa)
        self.free_pages = MethodType(PA.free_pages, pa)
        self.nr_free_pages = MethodType(PA.nr_free_pages, pa)
        self.zone_of = MethodType(PA.page_zone, pa)
        self.drain_all_pages = MethodType(PA.drain_all_pages, pa)
        self.set_min_free_kbytes = MethodType(PA.set_min_free_kbytes, pa)
        self.warn_alloc_failure = MethodType(PA.warn_alloc_failure, pa)
        self.show_mem = MethodType(PA.show_mem, pa)
        self.kswapd_run = MethodType(PA.kswapd_run, pa)
        self.struct_page_address = MethodType(PA.struct_page_address, pa)
        self.page_owner = MethodType(PA.page_owner, pa)
        self.page_block_order = MethodType(PA.page_block_order, pa)

    def _bind_slab(self, v: KernelVersion, sl: SlabAllocator) -> None:
        m = v.slab
        self.kmem_cache_create = MethodType(m.kmem_cache_create, sl)
        self.kmem_cache_alloc = MethodType(m.kmem_cache_alloc, sl)
        self.kmem_cache_free = MethodType(m.kmem_cache_free, sl)
        self.kmem_cache_shrink = MethodType(m.kmem_cache_shrink, sl)
        self.kmem_cache_destroy = MethodType(m.kmem_cache_destroy, sl)
        self.kmalloc = MethodType(m.kmalloc, sl)
        self.kzalloc = MethodType(m.kzalloc, sl)
        self.kcalloc = MethodType(m.kcalloc, sl)
        self.kfree = MethodType(m.kfree, sl)
        self.ksize = MethodType(m.ksize, sl)
        self.kmalloc_cache_for = MethodType(m.kmem_find_general_cachep, sl)
        self.find_cache = MethodType(m.find_cache, sl)
        self.cache_reap = MethodType(m.cache_reap, sl)
        self.slabinfo_write = MethodType(m.slabinfo_write, sl)
        self.do_tune_cpucache = MethodType(m.do_tune_cpucache, sl)

    def _bind_vmalloc(self, va: Vmalloc) -> None:
        self.vmalloc = MethodType(VM.vmalloc, va)
        self.vmalloc_32 = MethodType(VM.vmalloc_32, va)
        self.vmalloc_gfp = MethodType(_vmalloc, va)
        self.vfree = MethodType(VM.vfree, va)
        self.get_vm_area = MethodType(VM.get_vm_area, va)
        self.find_vm_area = MethodType(VM.find_vm_area, va)
        self.remove_vm_area = MethodType(VM.remove_vm_area, va)
        self.vmalloc_to_pfn = MethodType(VM.vmalloc_to_pfn, va)
        self.vmalloc_read = MethodType(VM.vmalloc_read, va)
        self.vmalloc_write = MethodType(VM.vmalloc_write, va)
        self.vmalloc_zero = MethodType(VM.vmalloc_zero, va)
        self.vmalloc_check = MethodType(VM.vmalloc_check, va)
        self.vmalloc_info = MethodType(VM.get_vmalloc_info, va)

    def _bind_mempool(self, mp: MP.Mempools) -> None:
        self.mempool_create = MethodType(MP.mempool_create, mp)
        self.mempool_resize = MethodType(MP.mempool_resize, mp)
        self.mempool_destroy = MethodType(MP.mempool_destroy, mp)
        self.mempool_alloc = MethodType(MP.mempool_alloc, mp)
        self.mempool_free = MethodType(MP.mempool_free, mp)
        self.mempool_add_waiter = MethodType(MP.mempool_add_waiter, mp)
        self.mempool_remove_waiter = MethodType(MP.mempool_remove_waiter, mp)
        self.mempool_alloc_slab = MethodType(MP.mempool_alloc_slab, mp)
        self.mempool_free_slab = MethodType(MP.mempool_free_slab, mp)
        self.mempool_kmalloc = MethodType(MP.mempool_kmalloc, mp)
        self.mempool_kfree = MethodType(MP.mempool_kfree, mp)
        self.mempool_alloc_pages = MethodType(MP.mempool_alloc_pages, mp)
        self.mempool_free_pages = MethodType(MP.mempool_free_pages, mp)
        self.mempool_create_slab_pool = MethodType(MP.mempool_create_slab_pool, mp)
        self.mempool_create_kmalloc_pool = MethodType(MP.mempool_create_kmalloc_pool, mp)
        self.mempool_create_page_pool = MethodType(MP.mempool_create_page_pool, mp)

    # -- control ------------------------------------------------------------

    def set_current(self, pid: int, comm: str | None = None) -> Task:
        """Make `pid` the current task; its CPU is pid % cpus."""
        return SC.set_current(self.sched, pid, comm)

    def update_fault_injection(self) -> None:
        """Call after changing a fault attribute or the trace hook: the
        allocation fast paths test one flag each and leave everything unusual
        to the general paths."""
        update_fault_attrs(self.faults)
        tracing = self.trace.hook is not None
        self.slab.slow = self.slab_debug or self.faults.failslab_armed or tracing
        self.page_alloc.slow = self.faults.fail_page_alloc_armed or tracing
        # call sites and last-user records read Python frames: the pure twin's (_pure.py)
        select(self, self.slab_debug or tracing)

    def drop_caches(self, mode: int = 3) -> None:
        """proc/sys/vm/drop_caches: 2 or 3 frees every reclaimable slab object
        and free slab; every write counts as drop_slab."""
        VS.drop_caches(self.vmscan, mode)

    def register_call_sites(self, cls: type, driver: str, inline: Iterable[str] = (),
                            renames: Mapping[str, str] | None = None) -> None:
        """Name the caller's functions in traces and slab-debug "last user"
        records: methods of `cls` instances are driver `driver`'s functions;
        `inline` helpers are looked through (see trace.register_call_sites)."""
        register_call_sites(self.trace, cls, driver, inline, renames)

    def close(self) -> None:
        """Release the machine's memory. The parts' registrations with each
        other (shrinkers, drains, CPU views) are dropped too, so that nothing
        keeps a closed kernel alive until the cycle collector runs."""
        self.mem.close()
        self.vmscan.shrinkers.clear()
        self.sched.views.clear()

    # -- queries for the filesystem side --------------------------------------

    def caches(self) -> list[KmemCache]:
        """Every cache, newest first (the order of /proc/slabinfo)."""
        return list(self.slab.cache_chain)

    def object_is_live(self, cachep: KmemCache, objp: int) -> bool:
        """Is objp, an object kmem_cache_alloc(cachep) returned, still handed out?"""
        return slab_object_is_live(cachep, objp)

    def cache_of(self, addr: int | None) -> KmemCache | None:
        """The cache whose slab holds physical address addr, or None."""
        if addr is None:
            return None
        slabp = self.slab.mem_map[addr >> self.slab.page_shift] if 0 <= addr < self.mem.size else None
        cache = slabp.cache if slabp is not None else None
        return cache if isinstance(cache, KmemCache) else None

    def kmalloc_object_is_live(self, addr: int | None) -> bool:
        """Is addr an object of some cache, handed out and not freed (kmalloc'd memory)?"""
        cachep = self.cache_of(addr)
        return cachep is not None and addr is not None and slab_object_is_live(cachep, addr)

    def live_objects(self, cachep: KmemCache) -> int:
        """Objects handed out (sysfs `objects`)."""
        return len(cachep.live)

    def partial_slabs(self, cachep: KmemCache) -> int:
        return cache_partial_slabs(cachep)

    def cpu_objects(self, cachep: KmemCache) -> int:
        """Objects parked in the per-CPU and shared arrays (sysfs `cpu_objects`)."""
        return cache_cpu_objects(cachep)

    def mempool_reserve(self, pool: MP.Mempool) -> list[int]:
        """The elements in pool's reserve (a copy), the next one out last."""
        return list(pool.elements)

    def slab_leaks(self) -> list[KmemCache]:
        """Caches, other than the general and the background ones, that still
        hold objects: what unloading a module with a leak leaves behind."""
        bg = self.background_caches.objects
        return [c for c in self.slab.cache_chain
                if not c.kmalloc and c.live and c not in bg and c is not self.slab.cache_cache]

    def online_nodes(self) -> list[tuple[int, list[int]]]:
        """(node id, its CPUs) for every node."""
        return [(n.id, list(n.cpus)) for n in self.page_alloc.nodes]

    def slab_node_of(self, objp: int) -> int:
        """The node of the slab holding objp (0 if none)."""
        owner = self.page_owner(objp >> self.page_alloc.page_shift)
        node: int = getattr(owner, "node", 0)
        return node

    # -- state, read-only, for renderers and tests ------------------------------

    @property
    def cpus(self) -> int:
        return self.sched.nr_cpus

    @property
    def numa(self) -> bool:
        return len(self.page_alloc.nodes) > 1

    @property
    def current(self) -> Task:
        return self.sched.current

    @current.setter
    def current(self, task: Task) -> None:
        SC.switch_to(self.sched, task)

    @property
    def zones(self) -> list[Zone]:
        return self.page_alloc.zones

    @property
    def nodes(self) -> list[Node]:
        return self.page_alloc.nodes

    @property
    def mem_map(self) -> list[PageOwner | None]:
        return self.page_alloc.mem_map

    @property
    def alloc_order(self) -> dict[int, int]:
        return self.page_alloc.alloc_order

    @property
    def nr_pages(self) -> int:
        return self.page_alloc.nr_pages

    @property
    def min_free_kbytes(self) -> int:
        return self.page_alloc.min_free_kbytes

    @property
    def totalram_pages(self) -> int:
        return self.page_alloc.totalram_pages

    @property
    def totalhigh_pages(self) -> int:
        return self.page_alloc.totalhigh_pages

    @property
    def cache_chain(self) -> list[KmemCache]:
        return self.slab.cache_chain

    @property
    def malloc_sizes(self) -> list[KmemCache]:
        return self.slab.malloc_sizes

    @property
    def background(self) -> dict[KmemCache, list[int]]:
        return self.background_caches.objects

    @property
    def vm_events(self) -> dict[str, int]:
        return self.vmstat.events

    @property
    def nr_slab_pages_reclaimable(self) -> int:
        return self.vmstat.nr_slab_reclaimable

    @property
    def nr_slab_pages_unreclaimable(self) -> int:
        return self.vmstat.nr_slab_unreclaimable

    def nr_slab_pages(self) -> int:
        return nr_slab_pages(self.vmstat)

    @property
    def vmlist(self) -> list[VmStruct]:
        return self.vmalloc_area.vmlist

    @property
    def vm_ptes(self) -> dict[int, int]:
        return self.vmalloc_area.vm_ptes

    @property
    def vm_pte_pages(self) -> dict[int, int]:
        return self.vmalloc_area.vm_pte_pages

    @property
    def vmalloc_start(self) -> int:
        return self.vmalloc_area.vmalloc_start

    @property
    def vmalloc_end(self) -> int:
        return self.vmalloc_area.vmalloc_end

    @property
    def failslab(self) -> FaultAttr:
        return self.faults.failslab

    @property
    def fail_page_alloc(self) -> FaultAttr:
        return self.faults.fail_page_alloc

    @property
    def trace_hook(self) -> TraceHook | None:
        return self.trace.hook

    # the sleeping-allocation handshake (sched.py), read and set by the caller
    @property
    def sleep_ok(self) -> bool:
        return self.sched.sleep_ok

    @sleep_ok.setter
    def sleep_ok(self, value: bool) -> None:
        self.sched.sleep_ok = value

    @property
    def sleep_request(self) -> tuple[Any, ...] | None:
        return self.sched.sleep_request

    @sleep_request.setter
    def sleep_request(self, value: tuple[Any, ...] | None) -> None:
        self.sched.sleep_request = value

    @property
    def retry_forever(self) -> bool:
        """Exactly 2.6.18: a sleeping allocation that __alloc_pages would retry
        waits for ever (sched.sleep_deadline), instead of the mount's bounded
        wait (proc/sys/vm/alloc_wait_ms). For a /proc/sys/vm knob."""
        return self.sched.retry_forever

    @retry_forever.setter
    def retry_forever(self, value: bool) -> None:
        self.sched.retry_forever = bool(value)

    @property
    def panic_on_oom(self) -> bool:
        """/proc/sys/vm/panic_on_oom (sysctl_panic_on_oom)."""
        return self.sched.panic_on_oom

    @panic_on_oom.setter
    def panic_on_oom(self, value: bool) -> None:
        self.sched.panic_on_oom = bool(value)

    @property
    def free_waiters(self) -> Callable[[], None] | None:
        return self.sched.free_waiters

    @free_waiters.setter
    def free_waiters(self, value: Callable[[], None] | None) -> None:
        SC.set_free_waiters(self.sched, value)
