"""The simulated machine: one object that builds the parts a kernel version
declares and keeps the kernel-named API (k.kmem_cache_alloc, k.kmalloc, ...).

Every API function is the part's module-level function bound once to the
part's state (`types.MethodType`), so a call through the facade costs no extra
Python frame. Read-only properties expose state for the renderers and tests;
the query methods at the end are what the filesystem side asks.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MethodType, ModuleType
from typing import Any

from . import background as BG
from . import page_alloc as PA
from . import sched as SC
from . import slab as SL
from . import vmalloc as VM
from . import vmscan as VS
from ._pure import select, twin
from .fault_inject import FaultAttr, FaultInject, update_fault_attrs
from .narrow import slab_2618, vmalloc_2618
from .parts import (
    CacheGeometry,
    CachePart,
    GfpVocabulary,
    MemMap,
    MempoolPart,
    NodePart,
    PageAllocatorPart,
    SlabAllocatorPart,
    SlabFlags,
    VmallocPart,
    VmAreaPart,
    ZonePart,
)
from .physmem import PhysMem
from .printk import KERN_INFO, KERN_NOTICE, KernelLog
from .sched import Sched, Task
from .trace import KmemTrace, TraceHook, register_call_sites
from .versions import DEFAULT_VERSION, KernelVersion, kernel_version
from .vmscan import Vmscan
from .vmstat import VmStat, nr_slab_pages

__all__ = ["Kernel", "Task", "parse_size"]

_SIZE_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_MEM = 4 << 20          # per machine and per node
MAX_NODES, MAX_CPUS = 64, 256



def _fn(module: ModuleType, name: str) -> Any:
    """A kernel function of a version's module, by its kernel name: the
    double-underscore ones (`__get_free_pages`) cannot be spelled as
    attributes inside the class body, which Python would mangle."""
    return getattr(module, name)


def _optional(module: ModuleType, name: str) -> Any:
    """A function only some versions have (SLAB's cache_reap), or None."""
    return getattr(module, name, None)


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
    it hands out is a physical address into `self.mem`. The parts are built
    from the modules the version declares (versions.py), and the API is bound
    from the same modules; `gfp`, `pointer_size` and `page_offset` say what
    differs between versions to the code that calls it.
    """

    # the parts
    version: KernelVersion
    gfp: GfpVocabulary       # the version's GFP vocabulary (values, gfp_parse, gfp_format)
    slab_flags: SlabFlags    # the version's SLAB_* cache flags
    log: KernelLog
    mem: PhysMem
    sched: Sched
    vmstat: VmStat
    faults: FaultInject
    trace: KmemTrace
    vmscan: Vmscan
    page_alloc: PageAllocatorPart
    slab: SlabAllocatorPart
    vmalloc_area: VmallocPart
    mempools: Any
    background_caches: BG.Background

    # mm/slab.c, mm/slub.c
    kmem_cache_create: Callable[..., CachePart | None]
    kmem_cache_alloc: Callable[[CachePart, int], int | None]
    kmem_cache_free: Callable[[CachePart, int], None]
    kmem_cache_shrink: Callable[[CachePart], int]
    kmem_cache_destroy: Callable[[CachePart], int]
    kmalloc: Callable[[int, int], int | None]
    kzalloc: Callable[[int, int], int | None]
    kcalloc: Callable[[int, int, int], int | None]
    kfree: Callable[[int | None], None]
    ksize: Callable[[int | None], int]
    kmalloc_cache_for: Callable[[int, int], CachePart | None]
    find_cache: Callable[[str], CachePart | None]
    # SLAB only (None on SLUB): the reaper, /proc/slabinfo writes, the tunables
    cache_reap: Callable[[], None] | None
    slabinfo_write: Callable[[bytes], int] | None
    do_tune_cpucache: Callable[[CachePart, int, int, int], None] | None
    # mm/page_alloc.c
    alloc_pages: Callable[..., int | None]
    get_free_pages: Callable[[int, int], int | None]
    get_zeroed_page: Callable[[int], int | None]
    free_pages_pfn: Callable[..., bool]
    free_pages: Callable[[int, int], bool]
    nr_free_pages: Callable[[], int]
    zone_of: Callable[[int], ZonePart]
    drain_all_pages: Callable[[], None]
    set_min_free_kbytes: Callable[[int], None]
    warn_alloc_failure: Callable[[int, int], None]
    show_mem: Callable[[], str]
    kswapd_run: Callable[[], int]
    struct_page_address: Callable[[int], int]
    page_owner: Callable[[int], PA.PageOwner | None]
    page_block_order: Callable[[int], int | None]
    # mm/vmscan.c
    shrink_slab: Callable[[int], int]
    # mm/mempool.c (mempool_resize: 2.6.18 (pool, new_min_nr, gfp), 6.x (pool, new_min_nr))
    mempool_create: Callable[..., MempoolPart | None]
    mempool_resize: Callable[..., int]
    mempool_destroy: Callable[[MempoolPart | None], bool]
    mempool_alloc: Callable[[MempoolPart, int], Any]
    mempool_free: Callable[[Any, MempoolPart], None]
    mempool_add_waiter: Callable[[MempoolPart, Callable[[], None]], None]
    mempool_remove_waiter: Callable[[MempoolPart, Callable[[], None]], None]
    mempool_alloc_slab: Callable[[int, CachePart], int | None]
    mempool_free_slab: Callable[[int, CachePart], None]
    mempool_kmalloc: Callable[[int, int], int | None]
    mempool_kfree: Callable[[int, int], None]
    mempool_alloc_pages: Callable[[int, int], int | None]
    mempool_free_pages: Callable[[int, int], None]
    mempool_create_slab_pool: Callable[[int, CachePart], MempoolPart | None]
    mempool_create_kmalloc_pool: Callable[[int, int], MempoolPart | None]
    mempool_create_page_pool: Callable[[int, int], MempoolPart | None]
    # mm/vmalloc.c
    vmalloc: Callable[..., int | None]
    vmalloc_32: Callable[..., int | None]
    vmalloc_gfp: Callable[..., int | None]
    vfree: Callable[[int | None], None]
    get_vm_area: Callable[..., VmAreaPart | None]
    find_vm_area: Callable[[int], VmAreaPart | None]
    remove_vm_area: Callable[[int], VmAreaPart | None]
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
        self.gfp = v.gfp
        self.slab_flags = v.slab_flags
        arch = v.arch
        if page_size is not None and page_size != arch.page_size:
            raise ValueError(f"only {arch.page_size}-byte pages are simulated ({arch.name})")
        if mem < MIN_MEM or mem % arch.page_size:
            raise ValueError("memory must be at least 4M and a multiple of the page size")
        if mem > arch.max_mem:
            raise ValueError(f"memory above {arch.max_mem >> 30}G is more than {arch.name} addresses here")
        if not 1 <= nodes <= MAX_NODES or mem // nodes < MIN_MEM:
            raise ValueError("nodes must be 1..64, with at least 4M each")
        if not 1 <= cpus <= MAX_CPUS:
            raise ValueError("cpus must be 1..256")
        self.slab_debug = slab_debug
        log = self.log = KernelLog(clock=clock)
        # the physical address space holding `mem` bytes of RAM (x86_64: RAM above
        # 3 GiB sits above the PCI hole; the page allocator's phys_end says where)
        phys_end = _optional(v.page_alloc, "phys_end")
        self.mem = PhysMem(phys_end(arch, mem) if phys_end is not None else mem)
        sched = self.sched = Sched(cpus, log.uptime)
        vmstat = self.vmstat = VmStat()
        faults = self.faults = v.fault_inject.FaultInject(log)
        trace = self.trace = KmemTrace()
        vmscan = self.vmscan = Vmscan(vmstat)
        pa = self.page_alloc = v.page_alloc.PageAllocator(arch, self.mem, log, sched, vmstat, faults, trace,
                                                          vmscan, nodes)
        if v.out_of_memory is not None:
            # this machine's OOM killer (a declared attribute of its PageAllocator, not of the Protocol)
            pa_any: Any = pa
            pa_any.out_of_memory_hook = v.out_of_memory
        sl = self.slab = v.slab.SlabAllocator(arch, pa, log, sched, vmstat, faults, trace, vmscan,
                                              v.slab_debug(slab_debug))
        self._bind_page_alloc(v.page_alloc, pa)
        self._bind_slab(v.slab, sl)
        log.printk(KERN_NOTICE, f"Linux version {v.release}-scullcfs ({arch.name} simulation)")
        if any(z.name == "HighMem" for z in arch.zones):   # i386's boot line
            log.printk(KERN_INFO, f"{mem >> 20}MB LOWMEM/HIGHMEM available, {nodes} node(s), {cpus} CPU(s).")
        if v.boot is not None:
            v.boot.print_memory_map(pa, log)
        else:
            for zone in pa.zones:
                log.printk(KERN_INFO, f"  Node {zone.node.id} {zone.name} zone: {zone.present} pages")
        # slab debugging names callers from Python frames: a compiled build boots on the
        # pure twin of the version's slab module (_pure.py), and select() binds the API to it
        slab_m = twin(v.slab) if slab_debug else v.slab
        slab_m.kmem_cache_init(sl)
        self.vmalloc_area = v.vmalloc.Vmalloc(arch, pa, sl, self.mem, log)
        self.mempools = v.mempool.Mempools(sl, pa, log, sched)
        self._bind_vmalloc(v.vmalloc, self.vmalloc_area)
        self._bind_mempool(v.mempool, self.mempools)
        self.shrink_slab = MethodType(VS.shrink_slab, vmscan)
        gfp_nowarn = v.gfp.GFP_KERNEL | v.gfp.BITS["__GFP_NOWARN"]
        self.background_caches = ((twin(BG) if slab_debug else BG).populate_background(
                                      sl, vmscan, background, slab_m, v.background, gfp_nowarn)
                                  if background else BG.Background())
        # the kernel's own caches (SLAB's cache_cache, SLUB's kmem_cache and
        # kmem_cache_node, vmalloc's vmap_area, the background ones): not a module's leak
        self.boot_caches = {id(c) for c in self.caches()}
        select(self, slab_debug)
        if v.boot is not None:
            v.boot.mem_init_print_info(pa, log, self.nr_free_pages())
        else:
            log.printk(KERN_INFO, f"Memory: {self.nr_free_pages() * (arch.page_size >> 10)}k/{mem >> 10}k"
                                  f" available, min_free_kbytes {pa.min_free_kbytes}")

    # -- binding the API ----------------------------------------------------

    def _bind_page_alloc(self, m: ModuleType, pa: PageAllocatorPart) -> None:
        self.alloc_pages = MethodType(m.alloc_pages, pa)
        self.get_free_pages = MethodType(_fn(m, "__get_free_pages"), pa)
        self.get_zeroed_page = MethodType(m.get_zeroed_page, pa)
        self.free_pages_pfn = MethodType(_fn(m, "__free_pages"), pa)
        self.free_pages = MethodType(m.free_pages, pa)
        self.nr_free_pages = MethodType(m.nr_free_pages, pa)
        self.zone_of = MethodType(m.page_zone, pa)
        self.drain_all_pages = MethodType(m.drain_all_pages, pa)
        self.set_min_free_kbytes = MethodType(m.set_min_free_kbytes, pa)
        self.warn_alloc_failure = MethodType(m.warn_alloc_failure, pa)
        self.show_mem = MethodType(m.show_mem, pa)
        self.kswapd_run = MethodType(m.kswapd_run, pa)
        self.struct_page_address = MethodType(m.struct_page_address, pa)
        self.page_owner = MethodType(m.page_owner, pa)
        self.page_block_order = MethodType(m.page_block_order, pa)

    def _bind_slab(self, m: ModuleType, sl: SlabAllocatorPart) -> None:
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
        self.cache_reap = self.slabinfo_write = self.do_tune_cpucache = None
        for name in ("cache_reap", "slabinfo_write", "do_tune_cpucache"):
            fn = _optional(m, name)
            if fn is not None:
                setattr(self, name, MethodType(fn, sl))

    def _bind_vmalloc(self, m: ModuleType, va: VmallocPart) -> None:
        self.vmalloc = MethodType(m.vmalloc, va)
        self.vmalloc_32 = MethodType(m.vmalloc_32, va)
        self.vmalloc_gfp = MethodType(_fn(m, "__vmalloc"), va)
        self.vfree = MethodType(m.vfree, va)
        self.get_vm_area = MethodType(m.get_vm_area, va)
        self.find_vm_area = MethodType(m.find_vm_area, va)
        self.remove_vm_area = MethodType(m.remove_vm_area, va)
        self.vmalloc_to_pfn = MethodType(m.vmalloc_to_pfn, va)
        self.vmalloc_read = MethodType(m.vmalloc_read, va)
        self.vmalloc_write = MethodType(m.vmalloc_write, va)
        self.vmalloc_zero = MethodType(m.vmalloc_zero, va)
        self.vmalloc_check = MethodType(m.vmalloc_check, va)
        self.vmalloc_info = MethodType(m.get_vmalloc_info, va)

    def _bind_mempool(self, m: ModuleType, mp: object) -> None:
        self.mempool_create = MethodType(m.mempool_create, mp)
        self.mempool_resize = MethodType(m.mempool_resize, mp)
        self.mempool_destroy = MethodType(m.mempool_destroy, mp)
        self.mempool_alloc = MethodType(m.mempool_alloc, mp)
        self.mempool_free = MethodType(m.mempool_free, mp)
        self.mempool_add_waiter = MethodType(m.mempool_add_waiter, mp)
        self.mempool_remove_waiter = MethodType(m.mempool_remove_waiter, mp)
        self.mempool_alloc_slab = MethodType(m.mempool_alloc_slab, mp)
        self.mempool_free_slab = MethodType(m.mempool_free_slab, mp)
        self.mempool_kmalloc = MethodType(m.mempool_kmalloc, mp)
        self.mempool_kfree = MethodType(m.mempool_kfree, mp)
        self.mempool_alloc_pages = MethodType(m.mempool_alloc_pages, mp)
        self.mempool_free_pages = MethodType(m.mempool_free_pages, mp)
        self.mempool_create_slab_pool = MethodType(m.mempool_create_slab_pool, mp)
        self.mempool_create_kmalloc_pool = MethodType(m.mempool_create_kmalloc_pool, mp)
        self.mempool_create_page_pool = MethodType(m.mempool_create_page_pool, mp)

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

    @property
    def pointer_size(self) -> int:
        """sizeof(void *): 4 on i386, 8 on x86_64 (a qset array is qset * this)."""
        return self.version.arch.pointer_size

    @property
    def page_offset(self) -> int:
        """PAGE_OFFSET: lowmem (the direct map) is at page_offset + phys."""
        return self.version.arch.page_offset

    @property
    def page_size(self) -> int:
        return self.version.arch.page_size

    def sprint_pointer(self, ptr: int, width: int = -1) -> str:
        """`%p` as this kernel's vsprintf prints it (`%8p`: width 8); 6.x hashes it."""
        return self.version.sprint_pointer(ptr, width)

    def has(self, api: str) -> bool:
        """Does this version's kernel have `api` (cache_reap, slabinfo_write,
        do_tune_cpucache: SLAB's; none of them on SLUB)?"""
        return getattr(self, api, None) is not None

    def caches(self) -> list[CachePart]:
        """Every cache, newest first (the order of /proc/slabinfo)."""
        return list(self.version.caches(self.slab))

    def geometry(self, cachep: CachePart) -> CacheGeometry:
        """cachep's object size, slot size, objects per slab, order, tunables."""
        return self.version.geometry(cachep)

    def object_size(self, cachep: CachePart) -> int:
        """What the cache's creator asked for (SLAB obj_size, SLUB object_size)."""
        return self.version.geometry(cachep).object_size

    def object_is_live(self, cachep: CachePart, objp: int) -> bool:
        """Is objp, an object kmem_cache_alloc(cachep) returned, still handed out?"""
        live: bool = self.version.slab.slab_object_is_live(cachep, objp)
        return live

    def cache_of(self, addr: int | None) -> CachePart | None:
        """The cache whose slab holds physical address addr, or None."""
        if addr is None or not 0 <= addr < self.mem.size:
            return None
        owner = self.page_alloc.mem_map[addr >> self.page_alloc.page_shift]
        cache = getattr(owner, "cache", None)
        return cache if isinstance(cache, self.version.slab.KmemCache) else None

    def kmalloc_object_is_live(self, addr: int | None) -> bool:
        """Is addr an object of some cache, handed out and not freed (kmalloc'd memory)?"""
        cachep = self.cache_of(addr)
        return cachep is not None and addr is not None and self.object_is_live(cachep, addr)

    def live_objects(self, cachep: CachePart) -> int:
        """Objects handed out (sysfs `objects`)."""
        return len(cachep.live)

    def partial_slabs(self, cachep: CachePart) -> int:
        n: int = self.version.slab.cache_partial_slabs(cachep)
        return n

    def cpu_objects(self, cachep: CachePart) -> int:
        """Objects parked in the per-CPU arrays (SLAB) or CPU slabs (SLUB) (sysfs `cpu_objects`)."""
        n: int = self.version.slab.cache_cpu_objects(cachep)
        return n

    def mempool_reserve(self, pool: MempoolPart) -> list[int]:
        """The elements in pool's reserve (a copy), the next one out last."""
        return list(pool.elements)

    def slab_leaks(self) -> list[CachePart]:
        """Caches, other than the general ones and those the kernel made at boot,
        that still hold objects: what unloading a module with a leak leaves behind."""
        boot = self.boot_caches
        return [c for c in self.caches() if not c.kmalloc and c.live and id(c) not in boot]

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
    def zones(self) -> Sequence[ZonePart]:
        """Every zone of every node, in the version's order."""
        return self.page_alloc.zones

    @property
    def nodes(self) -> Sequence[NodePart]:
        return self.page_alloc.nodes

    @property
    def mem_map(self) -> MemMap:
        return self.page_alloc.mem_map

    @property
    def alloc_order(self) -> dict[int, int]:
        """head pfn of an allocated block -> its order."""
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
        """HighMem's pages (0 where the architecture has no HighMem)."""
        high: int = getattr(self.page_alloc, "totalhigh_pages", 0)
        return high

    @property
    def cache_chain(self) -> list[SL.KmemCache]:
        """SLAB's cache_chain (2.6.18 only; caches() on every version)."""
        return slab_2618(self).cache_chain

    @property
    def malloc_sizes(self) -> list[SL.KmemCache]:
        """SLAB's general caches, size-32 up (2.6.18 only)."""
        return slab_2618(self).malloc_sizes

    @property
    def background(self) -> dict[Any, list[int]]:
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
    def vmlist(self) -> list[VM.VmStruct]:
        return vmalloc_2618(self).vmlist

    @property
    def vm_ptes(self) -> dict[int, int]:
        return vmalloc_2618(self).vm_ptes

    @property
    def vm_pte_pages(self) -> dict[int, int]:
        return vmalloc_2618(self).vm_pte_pages

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
