"""vmalloc as Linux 6.18 x86_64 has it (mm/vmalloc.c of 6.12, the source read;
arch/x86/include/asm/pgtable_64_types.h).

The space: 4-level paging, VMALLOC_START = vmalloc_base (nominally
0xffffc90000000000; RANDOMIZE_MEMORY moves it, which no output here shows:
vmallocinfo hashes the addresses), VMALLOC_END = VMALLOC_START + 32 TiB - 1, so
`VmallocTotal: 34359738367 kB`.

Each area is a `vmap_area` (72 bytes, from the `vmap_area` cache) on the busy
list of its vmap node (addr / (16 pages) % nr_vmap_nodes, one node per possible
CPU), pointing at a `vm_struct` (72 bytes, kzalloc: kmalloc-96). A guard page
follows every area unless VM_NO_GUARD (`vm->size` counts it: a 4-page vmalloc is
20480 bytes with pages=4). An area comes from the pool of the allocating CPU's
vmap node when one of its size (up to 256 pages) is there (node_alloc), else
lowest-first from the free space (find_vmap_lowest_match), whose blocks are
vmap_area objects too (one per gap). A freed area is unmapped at once, but its
address range stays taken ("unpurged vm_area" in /proc/vmallocinfo, listed
with the node it was allocated for) until the purge: when more than
lazy_max_pages() = fls(num_online_cpus) * 32 MiB of pages are pending (the
drain: pools decay by a quarter, then the lazy areas of up to 256 pages go
into their node's pool, the rest back to the free space), or when an
allocation finds no room (everything back to the free space).

__vmalloc_node_range: the size check against totalram_pages, the area, the page
array (kmalloc, or a nested vmalloc above one page: ` vpages`), the pages one
by one (order 0; 6.x's bulk allocator hands out the same pages), the page
tables (PMD and PTE pages on first use, GFP_PGTABLE_KERNEL, never freed); every
failure through warn_alloc with the `vmalloc error: size %lu, ...` texts.
VmallocUsed is vmalloc_nr_pages() (pages mapped by vmalloc, guard pages not
counted), VmallocChunk 0.

The part is `Vmalloc` (state only), given the 6.18 page allocator and SLUB.
"""
from __future__ import annotations

import bisect
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import vmalloc as VM2618
from ..arch import Arch
from ..physmem import PhysMem
from ..printk import KERN_ALERT, KERN_ERR, KERN_WARNING, KernelLog
from . import page_alloc as PA
from . import show_mem as SM
from . import slub as SL
from .gfp import (
    __GFP_DIRECT_RECLAIM,
    __GFP_FS,
    __GFP_HIGH,
    __GFP_HIGHMEM,
    __GFP_IO,
    __GFP_KSWAPD_RECLAIM,
    __GFP_MEMALLOC,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RETRY_MAYFAIL,
    __GFP_ZERO,
    GFP_DMA,
    GFP_DMA32,
    GFP_KERNEL,
)
from .trace_format import ptr_to_id

if TYPE_CHECKING:
    from ..kernel import Kernel

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
# arch/x86/include/asm/pgtable_64_types.h (4-level)
VMALLOC_START = 0xFFFFC90000000000          # __VMALLOC_BASE_L4
VMALLOC_SIZE_TB = 32                        # VMALLOC_SIZE_TB_L4
VMALLOC_END = VMALLOC_START + (VMALLOC_SIZE_TB << 40) - 1
VMALLOC_TOTAL = VMALLOC_END - VMALLOC_START  # fs/proc/meminfo.c: VmallocTotal = VMALLOC_TOTAL >> 10
PMD_SHIFT = 21                              # a PTE page maps 2 MiB
PUD_SHIFT = 30                              # a PMD page maps 1 GiB
PTRS_PER_PTE = 512
PTE_SIZE = 8
# PAGE_KERNEL: __PP|__RW|___A|__NX|___D|___G
PAGE_KERNEL = 0x8000000000000163
# include/linux/vmalloc.h (6.12)
VM_IOREMAP, VM_ALLOC, VM_MAP, VM_USERMAP = 0x1, 0x2, 0x4, 0x8
VM_DMA_COHERENT, VM_UNINITIALIZED, VM_NO_GUARD = 0x10, 0x20, 0x40
VM_ALLOW_HUGE_VMAP = 0x400
VM_SPARSE = 0x1000
INT_MAX = (1 << 31) - 1
VMAP_RAM = 0x1                              # va->flags of a vm_map_ram area
# next addr size flags pages, page_order + nr_pages, phys_addr caller requested_size
SIZEOF_VM_STRUCT = 72
SIZEOF_VMAP_AREA = 72                       # va_start va_end rb_node(24) list(16) vm flags
SIZEOF_PAGE_POINTER = 8
VMAP_ZONE_SIZE = 16 * PAGE_SIZE             # vmap_init_nodes: "Node partition is 16 pages"
MAX_VMAP_NODES = 128
MAX_VA_SIZE_PAGES = 256                     # a vmap node's pools: areas of 1..256 pages
# mm/internal.h GFP_RECLAIM_MASK (__GFP_NOLOCKDEP is 0 here)
GFP_RECLAIM_MASK = (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS
                    | __GFP_NOWARN | __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY
                    | __GFP_MEMALLOC | __GFP_NOMEMALLOC)
GFP_PGTABLE_KERNEL = GFP_KERNEL | __GFP_ZERO   # arch/x86 pte_alloc_one_kernel
GFP_VMALLOC32 = GFP_DMA32 | GFP_KERNEL         # x86_64 has ZONE_DMA32
SHMLBA = PAGE_SIZE
# mm/vmalloc.c (6.12.117) lines of its WARNs
LINE_WARN_ZERO_SIZE = 3838
LINE_WARN_BAD_ADDRESS = 3291
LINE_WARN_NONEXISTENT = 3426

# the same page owners as 2.6.18's (memmap and pagemap name them)
VMALLOC = VM2618.VMALLOC   # a frame mapped into the vmalloc area
PGTABLE = VM2618.PGTABLE   # a kernel page table of the vmalloc area

_pack_pte = struct.Struct("<Q").pack_into


@dataclass(eq=False)
class VmStruct:
    """struct vm_struct. `size` includes the guard page."""
    addr: int
    size: int
    flags: int
    caller: str | None = None
    pages: list[int] = field(default_factory=list)   # pfn of each mapped page
    phys_addr: int = 0
    requested_size: int = 0
    struct_addr: int = 0          # the kzalloc'd vm_struct
    pages_addr: int = 0           # the page pointer array
    pages_vmalloced: bool = False  # is_vmalloc_addr(v->pages): " vpages"

    @property
    def nr_pages(self) -> int:
        return len(self.pages)

    def __repr__(self) -> str:
        return f"<VmStruct {self.addr:#x}+{self.size:#x} pages={self.nr_pages}>"


@dataclass(eq=False)
class VmapArea:
    """struct vmap_area: [va_start, va_end), its vm_struct while busy, the
    vmap node it was allocated for (`vn_id`: encode_vn_id, 0 = none)."""
    va_start: int
    va_end: int
    vm: VmStruct | None
    obj: int               # the vmap_area object (vmap_area cache)
    vn_id: int = 0

    @property
    def size(self) -> int:
        return self.va_end - self.va_start


class Vmalloc:
    """mm/vmalloc.c's state: the areas (busy, lazily freed, pooled per vmap
    node), the free space's blocks, the page tables."""

    def __init__(self, arch: Arch, page_alloc: PA.PageAllocator, slab: SL.SlabAllocator,
                 mem: PhysMem, log: KernelLog, nr_cpus: int | None = None):
        self.arch = arch
        self.page_alloc = page_alloc
        self.slab = slab
        self.mem = mem
        self.log = log
        self.page_shift = PAGE_SHIFT
        self.page_size = PAGE_SIZE
        self.vmalloc_start = VMALLOC_START
        self.vmalloc_end = VMALLOC_END
        # num_possible_cpus() (= online here): the page allocator's scheduler's
        self.nr_cpus: int = page_alloc.sched.nr_cpus if nr_cpus is None else nr_cpus
        # vmap_init_nodes: one vmap node per possible CPU (1..128)
        self.nr_vmap_nodes = min(max(self.nr_cpus, 1), MAX_VMAP_NODES)
        self.vmap_zone_size = VMAP_ZONE_SIZE if self.nr_vmap_nodes > 1 else 1
        # every area holding address space (busy, lazy, pooled), sorted by va_start
        self.areas: list[VmapArea] = []
        self.starts: list[int] = []
        self.hint = 0                      # areas[:hint] lie end to end from VMALLOC_START
        self.busy: dict[int, VmapArea] = {}  # va_start -> busy area
        # per vmap node: its lazy list, and its pools (pool[i]: areas of i + 1 pages, head first)
        self.lazy_lists: list[list[VmapArea]] = [[] for _ in range(self.nr_vmap_nodes)]
        self.pools: list[dict[int, list[VmapArea]]] = [{} for _ in range(self.nr_vmap_nodes)]
        self.vmap_lazy_nr = 0              # pages (guard pages included) pending purge
        self.nr_vmalloc_pages = 0
        self.purges = 0
        self.vm_ptes: dict[int, int] = {}        # virtual page number -> pfn
        self.vm_pte_pages: dict[int, int] = {}   # addr >> PMD_SHIFT -> pfn of the PTE page
        self.vm_pmd_pages: dict[int, int] = {}   # addr >> PUD_SHIFT -> pfn of the PMD page
        self.warned_zero_size = False
        # mm/vmalloc.c vmalloc_init: vmap_area_cachep = KMEM_CACHE(vmap_area, SLAB_PANIC)
        cachep = SL.kmem_cache_create(slab, "vmap_area", SIZEOF_VMAP_AREA, 8, SL.SLAB_PANIC)
        if cachep is None:
            raise RuntimeError("kmem_cache_create(vmap_area) failed: SLAB_PANIC")
        self.vmap_area_cachep: SL.KmemCache = cachep
        # vmap_init_free_space: the free tree's blocks are vmap_area objects too,
        # one per gap; at first one gap, the whole space
        self.free_blocks: list[int] = []
        _free_block_objects(self, 1)

    @property
    def vmlist(self) -> list[VmStruct]:
        """The busy areas' vm_structs, by address (what 2.6's vmlist was)."""
        return [va.vm for va in self.areas if va.vm is not None]

    @property
    def lazy(self) -> list[VmapArea]:
        """Every lazily freed area, by address."""
        return sorted((va for lst in self.lazy_lists for va in lst), key=lambda va: va.va_start)


def lazy_max_pages(v: Vmalloc) -> int:
    """mm/vmalloc.c lazy_max_pages: fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)."""
    return v.nr_cpus.bit_length() * ((32 << 20) // PAGE_SIZE)


def addr_to_node_id(v: Vmalloc, addr: int) -> int:
    """mm/vmalloc.c addr_to_node_id: (addr / vmap_zone_size) % nr_vmap_nodes."""
    return (addr // v.vmap_zone_size) % v.nr_vmap_nodes


def encode_vn_id(node_id: int) -> int:
    """mm/vmalloc.c encode_vn_id: node id + 1 in the flags' high bits (0: none);
    kept as node id + 1 here."""
    return node_id + 1


def vmalloc_nr_pages(v: Vmalloc) -> int:
    """mm/vmalloc.c vmalloc_nr_pages: pages vmalloc holds (meminfo's VmallocUsed)."""
    return v.nr_vmalloc_pages


# -- the address space --------------------------------------------------------


def _free_block_objects(v: Vmalloc, n: int) -> None:
    """Keep one vmap_area object per free block: `n` more (or fewer)."""
    for _ in range(n):
        obj = SL.kmem_cache_alloc(v.slab, v.vmap_area_cachep, GFP_KERNEL | __GFP_NOWARN)
        if obj is not None:
            v.free_blocks.append(obj)
    for _ in range(-n):
        if v.free_blocks:
            SL.kmem_cache_free(v.slab, v.vmap_area_cachep, v.free_blocks.pop())


def _free_before(v: Vmalloc, i: int, start: int) -> bool:
    """Is the space just below `start` free (areas[:i] lie below it)?"""
    return start > (v.areas[i - 1].va_end if i else v.vmalloc_start)


def _free_after(v: Vmalloc, i: int, end: int) -> bool:
    """Is the space just above `end` free (areas[i:] lie above it)?"""
    return end < (v.areas[i].va_start if i < len(v.areas) else v.vmalloc_end)


def _insert_area(v: Vmalloc, va: VmapArea) -> None:
    """Take [va_start, va_end) out of the free space (adjust_va_to_fit_type:
    the whole block FL_FIT frees its object, the middle NE_FIT needs one more)."""
    i = bisect.bisect_left(v.starts, va.va_start)
    before, after = _free_before(v, i, va.va_start), _free_after(v, i, va.va_end)
    v.areas.insert(i, va)
    v.starts.insert(i, va.va_start)
    _advance_hint(v)
    if not before and not after:
        _free_block_objects(v, -1)
    elif before and after:
        _free_block_objects(v, 1)


def _release_area(v: Vmalloc, va: VmapArea) -> None:
    """Give [va_start, va_end) back to the free space (merge_or_add_vmap_area):
    merged with a neighbouring block, the area's object is freed; between
    two, they become one; with none, the object is the new block's."""
    i = bisect.bisect_left(v.starts, va.va_start)
    assert v.areas[i] is va
    del v.areas[i]
    del v.starts[i]
    v.hint = min(v.hint, i)
    before, after = _free_before(v, i, va.va_start), _free_after(v, i, va.va_end)
    if before or after:
        SL.kmem_cache_free(v.slab, v.vmap_area_cachep, va.obj)
    else:
        v.free_blocks.append(va.obj)
    if before and after:
        _free_block_objects(v, -1)


def _advance_hint(v: Vmalloc) -> None:
    areas = v.areas
    h = v.hint
    end = areas[h - 1].va_end if h else v.vmalloc_start
    while h < len(areas) and areas[h].va_start == end:
        end = areas[h].va_end
        h += 1
    v.hint = h


def __alloc_vmap_area(v: Vmalloc, size: int, align: int, vstart: int, vend: int) -> int | None:
    """mm/vmalloc.c __alloc_vmap_area / find_vmap_lowest_match: the lowest
    aligned address where size bytes fit below vend, or None (the kernel's vend)."""
    areas = v.areas
    i = v.hint if vstart == v.vmalloc_start else 0
    addr = areas[i - 1].va_end if i else vstart
    addr = max(addr, vstart)
    while True:
        addr = (addr + align - 1) & ~(align - 1)
        limit = areas[i].va_start if i < len(areas) else vend
        if addr + size <= min(limit, vend):
            return addr
        if i >= len(areas) or addr + size > vend:
            return None
        addr = max(addr, areas[i].va_end)
        i += 1


def size_to_va_pool(v: Vmalloc, node: int, size: int) -> list[VmapArea] | None:
    """mm/vmalloc.c size_to_va_pool: pool (size - 1) / PAGE_SIZE, for areas of
    up to MAX_VA_SIZE_PAGES pages."""
    idx = (size - 1) // PAGE_SIZE
    if idx >= MAX_VA_SIZE_PAGES:
        return None
    return v.pools[node].setdefault(idx, [])


def node_pool_del_va(v: Vmalloc, node: int, size: int, align: int) -> VmapArea | None:
    """mm/vmalloc.c node_pool_del_va: the pool's first area if it is aligned
    (else it moves to the tail and the global space serves)."""
    pool = size_to_va_pool(v, node, size)
    if not pool:
        return None
    va = pool[0]
    if va.va_start & (align - 1):
        pool.append(pool.pop(0))
        return None
    del pool[0]
    return va


def node_alloc(v: Vmalloc, size: int, align: int, vstart: int, vend: int) -> tuple[VmapArea | None, int]:
    """mm/vmalloc.c node_alloc: for the whole vmalloc space with more than one
    vmap node, the pool of this CPU's node: (the pooled area or None, vn_id)."""
    if vstart != v.vmalloc_start or vend != v.vmalloc_end or v.nr_vmap_nodes == 1:
        return None, 0
    node = v.page_alloc.current.cpu % v.nr_vmap_nodes
    return node_pool_del_va(v, node, size, align), encode_vn_id(node)


def alloc_vmap_area(v: Vmalloc, size: int, align: int, vstart: int, vend: int, gfp_mask: int,
                    vm: VmStruct | None) -> VmapArea | None:
    """mm/vmalloc.c alloc_vmap_area: an area from this CPU's vmap node pool,
    else a vmap_area object and the lowest room; no room: reclaim and purge
    (pools drained too) and retry once, then (unless __GFP_NOWARN) the
    ratelimited `vmalloc_node_range for size %lu failed` warning."""
    gfp_mask &= GFP_RECLAIM_MASK
    va, vn_id = node_alloc(v, size, align, vstart, vend)
    if va is None:
        obj = SL.kmem_cache_alloc(v.slab, v.vmap_area_cachep, gfp_mask)
        if obj is None:
            return None
        purged = False
        while True:
            addr = __alloc_vmap_area(v, size, align, vstart, vend)
            if addr is not None:
                break
            if not purged:
                reclaim_and_purge_vmap_areas(v)
                purged = True
                continue
            if not gfp_mask & __GFP_NOWARN and v.log.ratelimit():
                v.log.printk(KERN_WARNING, f"vmalloc_node_range for size {size} failed: Address range"
                                           f" restricted to {vstart:#x} - {vend:#x}")
            SL.kmem_cache_free(v.slab, v.vmap_area_cachep, obj)
            return None
        va = VmapArea(addr, addr + size, vm, obj, vn_id)
        _insert_area(v, va)
    else:
        va.vm = vm
        va.vn_id = vn_id
    if vm is not None:
        vm.addr = va.va_start
        vm.size = size
    v.busy[va.va_start] = va
    return va


def decay_va_pool_node(v: Vmalloc, node: int, full_decay: bool) -> list[VmapArea]:
    """mm/vmalloc.c decay_va_pool_node: each pool gives back ~25% of its areas
    (len >> 2; a pool of fewer than 4 gives back all, as the kernel's
    `if (!--n_decay)` does), or all of them with full_decay. The areas given back."""
    decayed: list[VmapArea] = []
    for pool in v.pools[node].values():
        if not pool:
            continue
        if full_decay:
            decayed.extend(pool)
            pool.clear()
            continue
        n_decay = len(pool) >> 2
        while pool:
            decayed.append(pool.pop(0))
            n_decay -= 1
            if n_decay == 0:
                break
    return decayed


def __purge_vmap_area_lazy(v: Vmalloc, full_pool_decay: bool) -> int:
    """mm/vmalloc.c __purge_vmap_area_lazy and purge_vmap_node (after the TLB
    flush): for each vmap node, decay its pools, then its lazy areas go into
    its pools (skip_populate unless full_pool_decay: areas of up to 256 pages
    allocated for a node) or back to the free space. Returns the areas purged."""
    to_global: list[VmapArea] = []
    purged = 0
    for node in range(v.nr_vmap_nodes):
        to_global.extend(decay_va_pool_node(v, node, full_pool_decay))
        purge_list = sorted(v.lazy_lists[node], key=lambda va: va.va_start)
        v.lazy_lists[node] = []
        for va in purge_list:
            v.vmap_lazy_nr -= va.size >> PAGE_SHIFT
            purged += 1
            if va.vn_id and not full_pool_decay:
                pool = size_to_va_pool(v, node, va.size)
                if pool is not None:
                    pool.insert(0, va)      # list_add: at the head
                    continue
            to_global.append(va)
    for va in to_global:                    # reclaim_list_global
        _release_area(v, va)
    v.purges += 1
    return purged


def reclaim_and_purge_vmap_areas(v: Vmalloc) -> None:
    """mm/vmalloc.c reclaim_and_purge_vmap_areas: purge with the pools fully drained."""
    __purge_vmap_area_lazy(v, True)


def purge_vmap_area_lazy(v: Vmalloc) -> int:
    """mm/vmalloc.c drain_vmap_area_work: the purge the lazy threshold schedules."""
    return __purge_vmap_area_lazy(v, False)


def free_vmap_area_noflush(v: Vmalloc, va: VmapArea) -> None:
    """mm/vmalloc.c free_vmap_area_noflush: onto the lazy list of the node it
    was allocated for (else of its address's node); past lazy_max_pages the
    drain work purges (here at once)."""
    va.vm = None
    node = va.vn_id - 1 if va.vn_id else addr_to_node_id(v, va.va_start)
    v.lazy_lists[node].append(va)
    v.vmap_lazy_nr += va.size >> PAGE_SHIFT
    if v.vmap_lazy_nr > lazy_max_pages(v):
        purge_vmap_area_lazy(v)


def __get_vm_area_node(v: Vmalloc, size: int, align: int, flags: int, start: int, end: int,
                       gfp_mask: int, caller: str | None) -> VmStruct | None:
    """mm/vmalloc.c __get_vm_area_node: page-align, kzalloc the vm_struct
    (gfp & GFP_RECLAIM_MASK), add the guard page, find the room."""
    requested_size = size
    size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    if not size:
        return None
    struct_addr = SL.kzalloc(v.slab, SIZEOF_VM_STRUCT, gfp_mask & GFP_RECLAIM_MASK)
    if struct_addr is None:
        return None
    if not flags & VM_NO_GUARD:
        size += PAGE_SIZE
    area = VmStruct(0, size, flags, caller, requested_size=requested_size, struct_addr=struct_addr)
    if alloc_vmap_area(v, size, align, start, end, gfp_mask, area) is None:
        SL.kfree(v.slab, struct_addr)
        return None
    return area


def get_vm_area(v: Vmalloc, size: int, flags: int = VM_ALLOC, caller: str | None = None,
                gfp_mask: int = GFP_KERNEL) -> VmStruct | None:
    """mm/vmalloc.c get_vm_area_caller: an area (nothing mapped) in the vmalloc space."""
    return __get_vm_area_node(v, size, 1, flags, v.vmalloc_start, v.vmalloc_end, GFP_KERNEL, caller)


def find_vmap_area(v: Vmalloc, addr: int) -> VmapArea | None:
    """The busy area containing addr (mm/vmalloc.c find_vmap_area)."""
    i = bisect.bisect_right(v.starts, addr) - 1
    if i < 0:
        return None
    va = v.areas[i]
    if va.vm is None or not va.va_start <= addr < va.va_end:
        return None
    return va


def find_vm_area(v: Vmalloc, addr: int) -> VmStruct | None:
    """mm/vmalloc.c find_vm_area: the vm_struct of the area containing addr."""
    va = find_vmap_area(v, addr)
    return va.vm if va is not None else None


def remove_vm_area(v: Vmalloc, addr: int) -> VmStruct | None:
    """mm/vmalloc.c remove_vm_area: WARN on an unaligned address; unlink the
    area starting at addr, unmap it, free its vmap_area lazily."""
    if addr & (PAGE_SIZE - 1):
        warn(v, LINE_WARN_BAD_ADDRESS, "remove_vm_area",
             f"Trying to vfree() bad address ({ptr_to_id(addr)})")
        return None
    va = v.busy.pop(addr, None)
    if va is None or va.vm is None:
        return None
    vm = va.vm
    unmap_vm_area(v, vm)
    free_vmap_area_noflush(v, va)
    return vm


# -- page tables ------------------------------------------------------------


def _table(v: Vmalloc, tables: dict[int, int], index: int) -> int | None:
    pfn = tables.get(index)
    if pfn is None:
        pfn = PA.alloc_pages(v.page_alloc, GFP_PGTABLE_KERNEL, 0, owner=PGTABLE)
        if pfn is not None:
            tables[index] = pfn
    return pfn


def vmap_pages_range(v: Vmalloc, area: VmStruct) -> int:
    """mm/vmalloc.c vmap_pages_range: a PTE per page, the PMD and PTE pages
    allocated on first use (pmd_alloc, pte_alloc_kernel_track:
    GFP_PGTABLE_KERNEL, whatever the caller's mask). 0 or -ENOMEM."""
    ptes = v.vm_ptes
    view = v.mem.view
    vaddr = area.addr
    for pfn in area.pages:
        if _table(v, v.vm_pmd_pages, vaddr >> PUD_SHIFT) is None:
            return -12
        table = _table(v, v.vm_pte_pages, vaddr >> PMD_SHIFT)
        if table is None:
            return -12
        vpn = vaddr >> PAGE_SHIFT
        ptes[vpn] = pfn
        _pack_pte(view, (table << PAGE_SHIFT) + (vpn & (PTRS_PER_PTE - 1)) * PTE_SIZE,
                  (pfn << PAGE_SHIFT) | PAGE_KERNEL)
        vaddr += PAGE_SIZE
    return 0


def unmap_vm_area(v: Vmalloc, area: VmStruct) -> None:
    """vunmap_range_noflush: clear the area's PTEs (the tables stay)."""
    ptes = v.vm_ptes
    view = v.mem.view
    vpn = area.addr >> PAGE_SHIFT
    for _ in range(area.nr_pages):
        if ptes.pop(vpn, None) is not None:
            table = v.vm_pte_pages.get(vpn >> (PMD_SHIFT - PAGE_SHIFT))
            if table is not None:
                _pack_pte(view, (table << PAGE_SHIFT) + (vpn & (PTRS_PER_PTE - 1)) * PTE_SIZE, 0)
        vpn += 1


# -- reports ------------------------------------------------------------------


def warn_alloc(v: Vmalloc, gfp_mask: int, text: str) -> None:
    """mm/page_alloc.c warn_alloc(gfp_mask, NULL, text) (allocator/linux618/show_mem.py)."""
    SM.warn_alloc(v.page_alloc, gfp_mask, None, text)


def warn(v: Vmalloc, line: int, function: str, message: str) -> None:
    """WARN(cond, fmt) as 6.x prints it: the cut-here line, the message,
    kernel/panic.c __warn's `WARNING: CPU: %d PID: %d at %s:%d %pS`, the stack,
    the end marker."""
    cur = v.page_alloc.current
    v.log.printk(KERN_WARNING, "------------[ cut here ]------------")
    v.log.printk(KERN_ERR, message)
    v.log.printk(KERN_WARNING, f"WARNING: CPU: {cur.cpu} PID: {cur.pid} at mm/vmalloc.c:{line}"
                               f" {function}+0x0/0x0")
    v.log.printk(KERN_WARNING, SM.dump_stack(v.page_alloc, (function,), sys._getframe(2)))
    v.log.printk(KERN_WARNING, "---[ end trace 0000000000000000 ]---")


# -- vmalloc / vfree --------------------------------------------------------


def __vmalloc_area_node(v: Vmalloc, area: VmStruct, gfp_mask: int, node: int) -> int | None:
    """mm/vmalloc.c __vmalloc_area_node: the page array, the pages, the mapping."""
    nested_gfp = (gfp_mask & GFP_RECLAIM_MASK) | __GFP_ZERO
    nofail = bool(gfp_mask & __GFP_NOFAIL)
    nr_small_pages = (area.size - (0 if area.flags & VM_NO_GUARD else PAGE_SIZE)) >> PAGE_SHIFT
    array_size = nr_small_pages * SIZEOF_PAGE_POINTER
    if not gfp_mask & (GFP_DMA | GFP_DMA32):
        gfp_mask |= __GFP_HIGHMEM
    # Please note that the recursion is strictly bounded.
    if array_size > PAGE_SIZE:
        pages_addr = __vmalloc_node(v, array_size, 1, nested_gfp, node, area.caller)
        area.pages_vmalloced = pages_addr is not None
    else:
        pages_addr = SL.kmalloc(v.slab, array_size, nested_gfp)
    if pages_addr is None:
        warn_alloc(v, gfp_mask, f"vmalloc error: size {nr_small_pages * PAGE_SIZE},"
                                f" failed to allocated page array size {array_size}")
        free_vm_area(v, area)
        return None
    area.pages_addr = pages_addr
    # vm_area_alloc_pages(gfp | __GFP_NOWARN, node, 0, nr_small_pages, pages)
    page_gfp = gfp_mask | __GFP_NOWARN
    pa = v.page_alloc
    pages = area.pages
    while len(pages) < nr_small_pages:
        if not nofail and pa.current.killed:   # fatal_signal_pending(current)
            break
        pfn = PA.alloc_pages(pa, page_gfp, 0, owner=VMALLOC)
        if pfn is None:
            break
        pages.append(pfn)
    v.nr_vmalloc_pages += len(pages)
    if len(pages) != nr_small_pages:
        if not pa.current.killed:
            warn_alloc(v, gfp_mask, f"vmalloc error: size {len(pages) * PAGE_SIZE}, failed to allocate pages")
        vfree(v, area.addr)
        return None
    if vmap_pages_range(v, area) < 0:
        warn_alloc(v, gfp_mask, f"vmalloc error: size {len(pages) * PAGE_SIZE}, failed to map pages")
        vfree(v, area.addr)
        return None
    return area.addr


def free_vm_area(v: Vmalloc, area: VmStruct) -> None:
    """mm/vmalloc.c free_vm_area: remove_vm_area + kfree (nothing mapped yet)."""
    remove_vm_area(v, area.addr)
    SL.kfree(v.slab, area.struct_addr)


def __vmalloc_node_range(v: Vmalloc, size: int, align: int, start: int, end: int, gfp_mask: int,
                         vm_flags: int = 0, node: int = -1, caller: str | None = None) -> int | None:
    """mm/vmalloc.c __vmalloc_node_range_noprof (no huge mappings: no caller
    here passes VM_ALLOW_HUGE_VMAP). The address, or None."""
    if not size:
        if not v.warned_zero_size:   # WARN_ON_ONCE(!size)
            v.warned_zero_size = True
            warn(v, LINE_WARN_ZERO_SIZE, "__vmalloc_node_range_noprof", "")
        return None
    if (size >> PAGE_SHIFT) > v.page_alloc.totalram_pages:
        warn_alloc(v, gfp_mask, f"vmalloc error: size {size}, exceeds total pages")
        return None
    area = __get_vm_area_node(v, size, align, VM_ALLOC | VM_UNINITIALIZED | vm_flags, start, end,
                              gfp_mask, caller)
    if area is None:
        # with __GFP_NOFAIL the kernel sleeps a jiffy and tries again, for
        # ever: here the address space does not change meanwhile (deviations.md)
        nofail = bool(gfp_mask & __GFP_NOFAIL)
        warn_alloc(v, gfp_mask, f"vmalloc error: size {size}, vm_struct allocation failed"
                                + (". Retrying." if nofail else ""))
        return None
    addr = __vmalloc_area_node(v, area, gfp_mask, node)
    if addr is None:
        return None
    # __GFP_ZERO: the page allocator zeroed each page (post_alloc_hook)
    area.flags &= ~VM_UNINITIALIZED   # clear_vm_uninitialized_flag
    return addr


def __vmalloc_node(v: Vmalloc, size: int, align: int, gfp_mask: int, node: int = -1,
                   caller: str | None = None) -> int | None:
    """mm/vmalloc.c __vmalloc_node_noprof: the whole vmalloc space."""
    return __vmalloc_node_range(v, size, align, v.vmalloc_start, v.vmalloc_end, gfp_mask, 0, node, caller)


def __vmalloc(v: Vmalloc, size: int, gfp_mask: int, caller: str | None = None) -> int | None:
    """mm/vmalloc.c __vmalloc_noprof(size, gfp_mask)."""
    return __vmalloc_node(v, size, 1, gfp_mask, -1, caller)


def vmalloc(v: Vmalloc, size: int, caller: str | None = None) -> int | None:
    """mm/vmalloc.c vmalloc_noprof: GFP_KERNEL (pages from any zone: no HighMem
    on x86_64, __GFP_HIGHMEM only marks it). Not zeroed. May sleep."""
    return __vmalloc_node(v, size, 1, GFP_KERNEL, -1, caller)


def vzalloc(v: Vmalloc, size: int, caller: str | None = None) -> int | None:
    """mm/vmalloc.c vzalloc_noprof: GFP_KERNEL | __GFP_ZERO."""
    return __vmalloc_node(v, size, 1, GFP_KERNEL | __GFP_ZERO, -1, caller)


def vmalloc_32(v: Vmalloc, size: int, caller: str | None = None) -> int | None:
    """mm/vmalloc.c vmalloc_32_noprof: GFP_VMALLOC32 = GFP_DMA32 | GFP_KERNEL."""
    return __vmalloc_node(v, size, 1, GFP_VMALLOC32, -1, caller)


def vmalloc_user(v: Vmalloc, size: int, caller: str | None = None) -> int | None:
    """mm/vmalloc.c vmalloc_user_noprof: zeroed, VM_USERMAP, SHMLBA-aligned."""
    return __vmalloc_node_range(v, size, SHMLBA, v.vmalloc_start, v.vmalloc_end,
                                GFP_KERNEL | __GFP_ZERO, VM_USERMAP, -1, caller)


def vfree(v: Vmalloc, addr: int | None) -> None:
    """mm/vmalloc.c vfree: NULL does nothing; an address that starts no area
    is the WARN `Trying to vfree() nonexistent vm area (%p)` (after
    remove_vm_area's own WARN for an unaligned one); else the pages go back,
    then the page array (vfree or kfree) and the vm_struct."""
    if not addr:
        return
    vm = remove_vm_area(v, addr)
    if vm is None:
        warn(v, LINE_WARN_NONEXISTENT, "vfree", f"Trying to vfree() nonexistent vm area ({ptr_to_id(addr)})")
        return
    for pfn in vm.pages:
        PA.__free_pages(v.page_alloc, pfn, 0)
    v.nr_vmalloc_pages -= vm.nr_pages
    vm.pages = []
    if vm.pages_addr:
        if vm.pages_vmalloced:   # kvfree
            vfree(v, vm.pages_addr)
        else:
            SL.kfree(v.slab, vm.pages_addr)
    SL.kfree(v.slab, vm.struct_addr)


# -- kvmalloc (mm/util.c; the 6.18 gfp adjustment) ----------------------------


def kmalloc_gfp_adjust(flags: int, size: int) -> int:
    """mm/util.c kmalloc_gfp_adjust as 6.18 has it: above a page, no warning
    (vmalloc is the fallback), no direct reclaim unless __GFP_RETRY_MAYFAIL
    (kswapd still woken), no __GFP_NOFAIL. (6.12 set __GFP_NORETRY instead of
    clearing __GFP_DIRECT_RECLAIM; the live 6.18 trace of a kvmalloc(20000,
    GFP_USER) shows GFP_NOWAIT|__GFP_IO|__GFP_FS|__GFP_HARDWALL.)"""
    if size > PAGE_SIZE:
        flags |= __GFP_NOWARN
        if not flags & __GFP_RETRY_MAYFAIL:
            flags &= ~__GFP_DIRECT_RECLAIM
        flags &= ~__GFP_NOFAIL
    return flags


def kvmalloc_node(v: Vmalloc, size: int, flags: int, node: int = -1, caller: str | None = None) -> int | None:
    """mm/util.c __kvmalloc_node_noprof: kmalloc with the adjusted mask; above a
    page, if that fails and the caller may sleep, vmalloc with its own mask
    (VM_ALLOW_HUGE_VMAP: huge mappings are not simulated, the pages are order 0)."""
    ret: int | None = SL.kmalloc_node(v.slab, size, kmalloc_gfp_adjust(flags, size), node)
    if ret is not None or size <= PAGE_SIZE:
        return ret
    if not flags & __GFP_DIRECT_RECLAIM:   # non-sleeping allocations are not supported by vmalloc
        return None
    if size > INT_MAX:                     # WARN_ON_ONCE(!(flags & __GFP_NOWARN))
        return None
    return __vmalloc_node_range(v, size, 1, v.vmalloc_start, v.vmalloc_end, flags, VM_ALLOW_HUGE_VMAP,
                                node, caller)


def kvmalloc(v: Vmalloc, size: int, flags: int, caller: str | None = None) -> int | None:
    """include/linux/slab.h kvmalloc: kvmalloc_node(size, flags, NUMA_NO_NODE)."""
    return kvmalloc_node(v, size, flags, -1, caller)


def kvzalloc(v: Vmalloc, size: int, flags: int, caller: str | None = None) -> int | None:
    """include/linux/slab.h kvzalloc: kvmalloc(size, flags | __GFP_ZERO)."""
    return kvmalloc_node(v, size, flags | __GFP_ZERO, -1, caller)


def kvfree(v: Vmalloc, addr: int | None) -> None:
    """mm/util.c kvfree: vfree for a vmalloc address, else kfree."""
    if addr is not None and is_vmalloc_addr(v, addr):
        vfree(v, addr)
    else:
        SL.kfree(v.slab, addr)


# -- access through the page table ------------------------------------------


def is_vmalloc_addr(v: Vmalloc, addr: int) -> bool:
    """include/linux/mm.h is_vmalloc_addr."""
    return v.vmalloc_start <= addr < v.vmalloc_end


def vmalloc_to_pfn(v: Vmalloc, addr: int) -> int | None:
    """mm/vmalloc.c vmalloc_to_pfn: the frame behind a vmalloc address, or
    None (not mapped: a guard page, a freed area, outside the space)."""
    return v.vm_ptes.get(addr >> PAGE_SHIFT)


def vm_fault(v: Vmalloc, addr: int, write: bool) -> None:
    """arch/x86/mm/fault.c show_fault_oops for a kernel access to a not-present page."""
    v.log.printk(KERN_ALERT, f"BUG: unable to handle page fault for address: {addr:016x}")
    v.log.printk(KERN_ALERT, f"#PF: supervisor {'write' if write else 'read'} access in kernel mode")
    v.log.printk(KERN_ALERT, f"#PF: error_code(0x{2 if write else 0:04x}) - not-present page")


def vmalloc_spans(v: Vmalloc, addr: int, n: int, write: bool = False) -> Iterator[tuple[int, int]]:
    """(physical address, length) of each page's part of [addr, addr + n),
    through the page table; an unmapped page ends the walk with the logged
    page-fault oops."""
    ptes = v.vm_ptes
    while n > 0:
        pfn = ptes.get(addr >> PAGE_SHIFT)
        if pfn is None:
            vm_fault(v, addr, write)
            return
        off = addr & (PAGE_SIZE - 1)
        k = min(PAGE_SIZE - off, n)
        yield (pfn << PAGE_SHIFT) + off, k
        addr += k
        n -= k


def vmalloc_write(v: Vmalloc, addr: int, data: bytes | bytearray | memoryview) -> int:
    """Copy data to a vmalloc address, page by page. Returns the bytes copied."""
    view = v.mem.view
    src = memoryview(data)
    done = 0
    for phys, k in vmalloc_spans(v, addr, len(src), write=True):
        view[phys:phys + k] = src[done:done + k]
        done += k
    return done


def vmalloc_read(v: Vmalloc, addr: int, n: int) -> bytes | memoryview:
    """n bytes at a vmalloc address (a memoryview when they lie in one page)."""
    view = v.mem.view
    parts = [view[phys:phys + k] for phys, k in vmalloc_spans(v, addr, n)]
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)


def vmalloc_zero(v: Vmalloc, addr: int, n: int) -> int:
    """memset(addr, 0, n) through the page table; returns the bytes zeroed."""
    done = 0
    for phys, k in vmalloc_spans(v, addr, n, write=True):
        v.mem.zero(phys, k)
        done += k
    return done


# -- /proc ----------------------------------------------------------------------


def get_vmalloc_info(v: Vmalloc) -> tuple[int, int, int]:
    """(VmallocTotal, VmallocUsed, VmallocChunk) in kB as 6.18's meminfo
    prints them: VMALLOC_TOTAL >> 10, vmalloc_nr_pages() in kB, 0."""
    return VMALLOC_TOTAL >> 10, v.nr_vmalloc_pages << (PAGE_SHIFT - 10), 0


def _node_counts(v: Vmalloc, vm: VmStruct) -> str:
    counts: dict[int, int] = {}
    for pfn in vm.pages:
        nid = PA.page_zone(v.page_alloc, pfn).node.id
        counts[nid] = counts.get(nid, 0) + 1
    return "".join(f" N{nid}={n}" for nid, n in sorted(counts.items()))


def vmallocinfo(k: Kernel) -> str:
    """/proc/vmallocinfo of a Kernel whose vmalloc part is this module's (the
    same name and argument as allocator/vmalloc.py's)."""
    v = k.vmalloc_area
    if not isinstance(v, Vmalloc):
        raise TypeError("not a Linux 6.18 vmalloc part")
    return vmalloc_info_show(v)


def vmalloc_info_show(v: Vmalloc, key: bytes | None = None) -> str:
    """/proc/vmallocinfo as mm/vmalloc.c vmalloc_info_show prints it: for each
    vmap node, its busy areas by address (`0x%pK-0x%pK %7ld`, ` %pS` caller,
    ` pages=%d`, ` phys=%pa`, the flag words, ` vpages`, ` N%u=%u` with
    CONFIG_NUMA); then show_purge_info's `unpurged vm_area` lines."""
    def p(ptr: int) -> str:
        return ptr_to_id(ptr) if key is None else ptr_to_id(ptr, key)
    per_node: list[list[str]] = [[] for _ in range(v.nr_vmap_nodes)]
    for va in v.areas:
        vm = va.vm
        if vm is None:
            continue
        if vm.flags & VM_UNINITIALIZED:
            continue
        line = f"0x{p(vm.addr)}-0x{p(vm.addr + vm.size)} {vm.size:7d}"
        if vm.caller:
            line += " " + vm.caller
        if vm.nr_pages:
            line += f" pages={vm.nr_pages}"
        if vm.phys_addr:
            line += f" phys=0x{vm.phys_addr:016x}"
        for flag, word in ((VM_IOREMAP, " ioremap"), (VM_SPARSE, " sparse"), (VM_ALLOC, " vmalloc"),
                           (VM_MAP, " vmap"), (VM_USERMAP, " user"), (VM_DMA_COHERENT, " dma-coherent")):
            if vm.flags & flag:
                line += word
        if vm.pages_vmalloced:
            line += " vpages"
        line += _node_counts(v, vm)
        per_node[addr_to_node_id(v, va.va_start)].append(line + "\n")
    lazy = [f"0x{p(va.va_start)}-0x{p(va.va_end)} {va.size:7d} unpurged vm_area\n"
            for lst in v.lazy_lists for va in sorted(lst, key=lambda a: a.va_start)]
    return "".join(line for lines in per_node for line in lines) + "".join(lazy)


def vmalloc_check(v: Vmalloc) -> list[str]:
    """The vmalloc side of the consistency check: areas sorted, apart and in
    the space; every page of a busy area mapped in order and tagged vmalloc;
    nothing else mapped; the page counter right."""
    problems = []
    mem_map = v.page_alloc.mem_map
    prev_end = v.vmalloc_start
    mapped = 0
    for va in v.areas:
        where = f"vmap_area {va.va_start:#x}"
        if va.va_start < prev_end or va.va_end > v.vmalloc_end:
            problems.append(f"{where}: overlaps its neighbour or leaves the vmalloc space")
        prev_end = va.va_end
        vm = va.vm
        if vm is None:
            continue
        guard = 0 if vm.flags & VM_NO_GUARD else 1
        if vm.nr_pages != (vm.size >> PAGE_SHIFT) - guard:
            problems.append(f"{where}: {vm.nr_pages} pages for {vm.size} bytes")
        for i, pfn in enumerate(vm.pages):
            if v.vm_ptes.get((vm.addr >> PAGE_SHIFT) + i) != pfn:
                problems.append(f"{where}: page {i} (pfn {pfn:#x}) is not mapped there")
            if mem_map[pfn] is not VMALLOC:
                problems.append(f"{where}: page {i} (pfn {pfn:#x}) is {mem_map[pfn]!r}")
        mapped += vm.nr_pages
    if v.starts != [va.va_start for va in v.areas]:
        problems.append("vmalloc: the address index disagrees with the areas")
    if mapped != len(v.vm_ptes):
        problems.append(f"vmalloc: {len(v.vm_ptes)} pages mapped, areas hold {mapped}")
    if mapped != v.nr_vmalloc_pages:
        problems.append(f"vmalloc: nr_vmalloc_pages {v.nr_vmalloc_pages}, areas hold {mapped}")
    held = list(v.busy.values()) + [va for lst in v.lazy_lists for va in lst]
    held += [va for pools in v.pools for pool in pools.values() for va in pool]
    if sorted(id(va) for va in held) != sorted(id(va) for va in v.areas):
        problems.append("vmalloc: the areas are not each busy, lazy or pooled exactly once")
    gaps = sum(1 for i, va in enumerate(v.areas) if _free_before(v, i, va.va_start))
    gaps += 1 if _free_after(v, len(v.areas), v.areas[-1].va_end if v.areas else v.vmalloc_start) else 0
    if gaps != len(v.free_blocks):
        problems.append(f"vmalloc: {gaps} free blocks, {len(v.free_blocks)} vmap_area objects for them")
    for tables in (v.vm_pte_pages, v.vm_pmd_pages):
        for index, pfn in tables.items():
            if mem_map[pfn] is not PGTABLE:
                problems.append(f"vmalloc: page table {index:#x} (pfn {pfn:#x}) is {mem_map[pfn]!r}")
    return problems
