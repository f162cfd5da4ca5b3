"""vmalloc after 2.6.18 mm/vmalloc.c, on i386.

A vmalloc'd buffer is contiguous only in kernel virtual addresses: get_vm_area
finds a gap in the vmalloc area (first fit, each area followed by one unmapped
guard page), the pages are allocated one by one (GFP_KERNEL|__GFP_HIGHMEM:
HighMem first) and mapped by page-table entries. Reading or writing through a
vmalloc address goes through that page table, one frame at a time.

The area (include/asm-i386/pgtable.h, 2.6.18) runs from
VMALLOC_START = (high_memory + vmalloc_earlyreserve + 2*VMALLOC_OFFSET-1) &
~(VMALLOC_OFFSET-1), 8 MiB above the end of lowmem (vmalloc_earlyreserve is 0
without NUMA), to VMALLOC_END = PKMAP_BASE - 2*PAGE_SIZE (CONFIG_HIGHMEM). With
PKMAP_BASE = (FIXADDR_BOOT_START - PAGE_SIZE*(LAST_PKMAP + 1)) & PMD_MASK and
the fixmap of an SMP HIGHMEM4G build of the i386 defconfig (fixmap.h: 193
slots, so FIXADDR_BOOT_START 0xfff3e000; LAST_PKMAP 1024; 4 MiB PMDs),
PKMAP_BASE is 0xff800000 and VMALLOC_END 0xff7fe000 (arch/i386.py). Hence
`VmallocTotal: 966648 kB` on a 64 MiB box and 114680 kB at >= 896 MiB.

The part is `Vmalloc` (state only), given the page allocator for the pages and
SLAB for the bookkeeping (vm_struct, the page pointer array).
"""
from __future__ import annotations

import bisect
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING

from . import page_alloc as PA
from . import slab as SL
from .arch import Arch
from .gfp import (
    __GFP_HIGHMEM,
    __GFP_REPEAT,
    __GFP_ZERO,
    GFP_KERNEL,
    ZONE_HIGHMEM,
)
from .page_alloc import PageOwner
from .physmem import PhysMem
from .printk import KERN_ALERT, KERN_ERR, KERN_WARNING, KernelLog

if TYPE_CHECKING:
    from .kernel import Kernel

VMALLOC_OFFSET = 8 << 20
PMD_SHIFT = 22                 # i386 without PAE: one page table maps 4 MiB
PTRS_PER_PTE = 1024
PTE_SIZE = 4
PTE_PFN_LIMIT = 1 << 20        # a 32-bit (non-PAE) entry holds pfns below this
ADDRESS_MASK = 0xFFFFFFFF      # addresses print as 32-bit
# PAGE_KERNEL: _PAGE_PRESENT|_PAGE_RW|_PAGE_ACCESSED|_PAGE_DIRTY|_PAGE_GLOBAL
PAGE_KERNEL = 0x163
# include/linux/vmalloc.h (2.6.2x)
VM_IOREMAP, VM_ALLOC, VM_MAP, VM_USERMAP, VM_VPAGES = 0x1, 0x2, 0x4, 0x8, 0x10
SIZEOF_VM_STRUCT = 28          # i386: next, addr, size, flags, pages, nr_pages, phys_addr
SIZEOF_PAGE_POINTER = 4
GFP_VMALLOC = GFP_KERNEL | __GFP_HIGHMEM
# arch/i386/mm/pgtable.c pte_alloc_one_kernel (2.6.18)
GFP_PTE = GFP_KERNEL | __GFP_REPEAT | __GFP_ZERO
# The lines of 2.6.18 mm/vmalloc.c's WARN_ON(1) calls in __vunmap.
WARN_LINE_BAD_ADDRESS = 321
WARN_LINE_NONEXISTENT = 329
STACK_DEPTH = 8   # frames dump_stack shows here

VMALLOC: PageOwner = PageOwner("vmalloc")    # a frame mapped into the vmalloc area
PGTABLE: PageOwner = PageOwner("pgtable")    # a kernel page table for the vmalloc area

_pack_pte = struct.Struct("<I").pack_into


@dataclass(eq=False)
class VmStruct:
    """struct vm_struct. `size` includes the guard page, as in 2.6."""
    addr: int
    size: int
    flags: int
    caller: str | None = None
    pages: list[int] = field(default_factory=list)   # pfn of each mapped page
    struct_addr: int = 0                        # the kmalloc'd vm_struct
    pages_addr: int = 0                         # the page pointer array

    @property
    def nr_pages(self) -> int:
        return len(self.pages)

    def __repr__(self) -> str:
        return f"<VmStruct {self.addr:#010x}+{self.size:#x} pages={self.nr_pages}>"


class Vmalloc:
    """mm/vmalloc.c's state: the area, its vm_structs and page tables."""

    def __init__(self, arch: Arch, page_alloc: PA.PageAllocator, slab: SL.SlabAllocator,
                 mem: PhysMem, log: KernelLog):
        self.page_alloc = page_alloc
        self.slab = slab
        self.mem = mem
        self.log = log
        self.page_shift = arch.page_shift
        self.page_size = arch.page_size
        lowmem = min(page_alloc.nr_pages << arch.page_shift, arch.zones[ZONE_HIGHMEM].lo)
        high_memory = arch.page_offset + lowmem
        self.vmalloc_start = (high_memory + 2 * VMALLOC_OFFSET - 1) & ~(VMALLOC_OFFSET - 1)
        self.vmalloc_end = arch.vmalloc_end
        self.vmlist: list[VmStruct] = []     # sorted by address, as 2.6's vmlist
        self.vm_addrs: list[int] = []        # the same addresses, for bisect
        self.vm_hint = 0                     # vmlist[:hint] has no gap between areas
        self.vm_ptes: dict[int, int] = {}    # virtual page number -> pfn
        self.vm_pte_pages: dict[int, int] = {}  # page-table index (addr >> PMD_SHIFT) -> pfn

# -- the area ---------------------------------------------------------------


def get_vm_area(v: Vmalloc, size: int, flags: int = VM_ALLOC, caller: str | None = None,
                gfp_mask: int = GFP_KERNEL) -> VmStruct | None:
    """mm/vmalloc.c __get_vm_area_node (2.6.18): reserve size bytes (rounded
    up to pages) plus a guard page of the vmalloc area, first fit. The
    vm_struct is kmalloc'd with GFP_KERNEL whatever the caller's mask (as
    2.6.18 does; `gfp_mask` is not used). Returns the area (nothing mapped) or
    None, with the rate-limited "out of vmalloc space" warning when no gap fits."""
    page_size = v.page_size
    struct_addr = SL.kmalloc(v.slab, SIZEOF_VM_STRUCT, GFP_KERNEL)
    if struct_addr is None:
        return None
    size = (size + page_size - 1) & ~(page_size - 1)
    if size <= 0:
        SL.kfree(v.slab, struct_addr)
        return None
    size += page_size  # the guard page
    vmlist = v.vmlist
    i = v.vm_hint
    addr = vmlist[i - 1].addr + vmlist[i - 1].size if i else v.vmalloc_start
    hint_moves = True
    end = v.vmalloc_end
    while i < len(vmlist):
        tmp = vmlist[i]
        if tmp.addr != addr:
            if addr + size <= tmp.addr:
                break
            hint_moves = False  # a gap too small for us, maybe not for others
        elif hint_moves:
            v.vm_hint = i + 1
        addr = tmp.addr + tmp.size
        i += 1
    # 2.6.18 tests `addr > end - size` after each area it passes, so an empty
    # vmlist would take any size; the end is checked always here (deviations.md).
    if addr + size > end:
        SL.kfree(v.slab, struct_addr)
        if v.log.ratelimit():
            v.log.printk(KERN_WARNING, "allocation failed: out of vmalloc space"
                                       " - use vmalloc=<size> to increase size.")
        return None
    area = VmStruct(addr, size, flags, caller, struct_addr=struct_addr)
    vmlist.insert(i, area)
    v.vm_addrs.insert(i, addr)
    return area


def find_vm_area(v: Vmalloc, addr: int) -> VmStruct | None:
    """The area starting exactly at addr, or None."""
    i = bisect.bisect_left(v.vm_addrs, addr)
    if i < len(v.vm_addrs) and v.vm_addrs[i] == addr:
        return v.vmlist[i]
    return None


def remove_vm_area(v: Vmalloc, addr: int) -> VmStruct | None:
    """Unlink the area at addr and clear its page-table entries."""
    i = bisect.bisect_left(v.vm_addrs, addr)
    if i >= len(v.vm_addrs) or v.vm_addrs[i] != addr:
        return None
    area = v.vmlist.pop(i)
    del v.vm_addrs[i]
    v.vm_hint = min(v.vm_hint, i)
    unmap_vm_area(v, area)
    return area


# -- page tables ------------------------------------------------------------


def pte_alloc_kernel(v: Vmalloc, vaddr: int, gfp_mask: int) -> int | None:
    """The page table covering vaddr, allocated on first use with
    GFP_KERNEL|__GFP_REPEAT|__GFP_ZERO (pte_alloc_one_kernel, whatever the
    caller's mask); kernel page tables of the vmalloc area are never freed
    (2.6 vunmap leaves them)."""
    index = vaddr >> PMD_SHIFT
    pfn = v.vm_pte_pages.get(index)
    if pfn is None:
        pfn = PA.alloc_pages(v.page_alloc, GFP_PTE, 0, owner=PGTABLE)
        if pfn is not None:
            v.vm_pte_pages[index] = pfn
    return pfn


def map_vm_area(v: Vmalloc, area: VmStruct, gfp_mask: int) -> bool:
    ptes = v.vm_ptes
    view = v.mem.view
    shift = v.page_shift
    vaddr = area.addr
    for pfn in area.pages:
        table = pte_alloc_kernel(v, vaddr, gfp_mask)
        if table is None:
            return False
        ptes[vaddr >> shift] = pfn
        if pfn < PTE_PFN_LIMIT:
            _pack_pte(view, (table << shift) + ((vaddr >> shift) & (PTRS_PER_PTE - 1)) * PTE_SIZE,
                      (pfn << shift) | PAGE_KERNEL)
        vaddr += v.page_size
    return True


def unmap_vm_area(v: Vmalloc, area: VmStruct) -> None:
    ptes = v.vm_ptes
    view = v.mem.view
    shift = v.page_shift
    vpn = area.addr >> shift
    for _ in range(area.nr_pages):
        if ptes.pop(vpn, None) is not None:
            table = v.vm_pte_pages.get(vpn >> (PMD_SHIFT - shift))
            if table is not None:
                _pack_pte(view, (table << shift) + (vpn & (PTRS_PER_PTE - 1)) * PTE_SIZE, 0)
        vpn += 1


# -- vmalloc / vfree --------------------------------------------------------


def vmalloc(v: Vmalloc, size: int, caller: str | None = None) -> int | None:
    """Return the kernel virtual address of size bytes (page-rounded), or
    None. Pages come one at a time, HighMem first; not zeroed. May sleep."""
    return __vmalloc(v, size, GFP_VMALLOC, caller)


def vmalloc_32(v: Vmalloc, size: int, caller: str | None = None) -> int | None:
    """vmalloc from lowmem only (GFP_KERNEL)."""
    return __vmalloc(v, size, GFP_KERNEL, caller)


def __vmalloc(v: Vmalloc, size: int, gfp_mask: int, caller: str | None = None) -> int | None:
    """__vmalloc(size, gfp_mask, PAGE_KERNEL): mm/vmalloc.c __vmalloc_node and
    __vmalloc_area_node (2.6.18). The address, or None on any failure, with
    everything allocated so far given back."""
    page_size, shift = v.page_size, v.page_shift
    size = (size + page_size - 1) & ~(page_size - 1)
    if size <= 0 or (size >> shift) > v.page_alloc.nr_pages:  # num_physpages
        return None
    area = get_vm_area(v, size, VM_ALLOC, caller, gfp_mask)
    if area is None:
        return None
    nr_pages = (area.size - page_size) >> shift
    array_size = nr_pages * SIZEOF_PAGE_POINTER
    if array_size > page_size:
        pages_addr = __vmalloc(v, array_size, gfp_mask, caller)
        area.flags |= VM_VPAGES
    else:
        # kmalloc_node(array_size, gfp_mask & ~__GFP_HIGHMEM): no __GFP_ZERO
        # (not a slab flag in 2.6.18), the memset below clears the array
        pages_addr = SL.kmalloc(v.slab, array_size, gfp_mask & ~__GFP_HIGHMEM)
    if pages_addr is None:
        remove_vm_area(v, area.addr)
        SL.kfree(v.slab, area.struct_addr)
        return None
    area.pages_addr = pages_addr
    if area.flags & VM_VPAGES:
        vmalloc_zero(v, pages_addr, array_size)
    else:
        v.mem.zero(pages_addr, array_size)
    pages = area.pages
    for _ in range(nr_pages):
        pfn = PA.alloc_pages(v.page_alloc, gfp_mask, 0, owner=VMALLOC)
        if pfn is None:
            vfree(v, area.addr)
            return None
        pages.append(pfn)
    if not map_vm_area(v, area, gfp_mask):
        vfree(v, area.addr)
        return None
    return area.addr


def vfree(v: Vmalloc, addr: int | None) -> None:
    """Unmap and free a vmalloc'd area; vfree(None) does nothing. An
    address that does not start an area is the logged 2.6 error + warning."""
    if not addr:
        return
    if addr & (v.page_size - 1):
        v.log.printk(KERN_ERR, f"Trying to vfree() bad address ({addr & ADDRESS_MASK:08x})")
        warn_on(v, "mm/vmalloc.c", WARN_LINE_BAD_ADDRESS, "__vunmap")
        return
    area = remove_vm_area(v, addr)
    if area is None:
        v.log.printk(KERN_ERR, f"Trying to vfree() nonexistent vm area ({addr & ADDRESS_MASK:08x})")
        warn_on(v, "mm/vmalloc.c", WARN_LINE_NONEXISTENT, "__vunmap")
        return
    for pfn in area.pages:
        PA.__free_pages(v.page_alloc, pfn, 0)
    area.pages = []
    if area.flags & VM_VPAGES:
        vfree(v, area.pages_addr)
    elif area.pages_addr:
        SL.kfree(v.slab, area.pages_addr)
    SL.kfree(v.slab, area.struct_addr)


def warn_on(v: Vmalloc, file: str, line: int, function: str) -> None:
    """WARN_ON(1) as include/asm-generic/bug.h (2.6.18) expands it:
    printk("BUG: warning at %s:%d/%s()\n", __FILE__, __LINE__, __FUNCTION__)
    without a level (default_message_loglevel, 4), then dump_stack()."""
    v.log.printk(KERN_WARNING, f"BUG: warning at {file}:{line}/{function}()")
    dump_stack(v, function)


def dump_stack(v: Vmalloc, function: str) -> None:
    """arch/i386/kernel/traps.c dump_stack -> show_trace: one
    ` [<%08lx>] %s` line per frame (print_addr_and_symbol). There is no kernel
    text, so the address is 0; the symbols are the function that warned and
    then the simulated callers (`name+0xoffset/0xsize`)."""
    lines = [f" [<00000000>] {function}+0x0/0x0"]
    frame: FrameType | None = sys._getframe(2)  # vfree, the caller of warn_on
    while frame is not None and len(lines) < STACK_DEPTH:
        code = frame.f_code
        lines.append(f" [<00000000>] {code.co_name}+0x{frame.f_lasti:x}/0x{len(code.co_code):x}")
        frame = frame.f_back
    v.log.printk(KERN_WARNING, "\n".join(lines))


# -- access through the page table ------------------------------------------


def vmalloc_to_pfn(v: Vmalloc, addr: int) -> int | None:
    """The frame behind a vmalloc address, or None (unmapped: a guard page,
    a hole, or outside the area)."""
    return v.vm_ptes.get(addr >> v.page_shift)


def vm_fault(v: Vmalloc, addr: int) -> None:
    v.log.printk(KERN_ALERT, f"BUG: unable to handle kernel paging request at virtual"
                             f" address {addr & ADDRESS_MASK:08x}")


def vmalloc_spans(v: Vmalloc, addr: int, n: int) -> Iterator[tuple[int, int]]:
    """(physical address, length) of each page's part of [addr, addr + n),
    through the page table; an unmapped page ends the walk with a logged
    paging oops."""
    ptes = v.vm_ptes
    shift, page_size = v.page_shift, v.page_size
    while n > 0:
        pfn = ptes.get(addr >> shift)
        if pfn is None:
            vm_fault(v, addr)
            return
        off = addr & (page_size - 1)
        k = min(page_size - off, n)
        yield (pfn << shift) + off, k
        addr += k
        n -= k


def vmalloc_write(v: Vmalloc, addr: int, data: bytes | bytearray | memoryview) -> int:
    """Copy data to a vmalloc address, page by page. Returns the bytes
    copied; an unmapped page stops the copy with a logged paging oops."""
    view = v.mem.view
    src = memoryview(data)
    done = 0
    for phys, k in vmalloc_spans(v, addr, len(src)):
        view[phys:phys + k] = src[done:done + k]
        done += k
    return done


def vmalloc_read(v: Vmalloc, addr: int, n: int) -> bytes | memoryview:
    """n bytes at a vmalloc address, gathered from its frames (a memoryview
    when they lie in one page). Short, with a logged oops, at an unmapped page."""
    view = v.mem.view
    parts = [view[phys:phys + k] for phys, k in vmalloc_spans(v, addr, n)]
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)


def vmalloc_zero(v: Vmalloc, addr: int, n: int) -> int:
    """memset(addr, 0, n) through the page table; returns the bytes zeroed."""
    done = 0
    for phys, k in vmalloc_spans(v, addr, n):
        v.mem.zero(phys, k)
        done += k
    return done


# -- reports ----------------------------------------------------------------


def vmalloc_check(v: Vmalloc) -> list[str]:
    """The vmalloc side of the consistency check: areas sorted, inside the
    area and apart; every page of an area mapped in order, allocated, tagged
    vmalloc; nothing else mapped."""
    problems = []
    shift = v.page_shift
    mem_map = v.page_alloc.mem_map
    prev_end = v.vmalloc_start
    mapped = 0
    for area in v.vmlist:
        where = f"vmalloc area {area.addr:#010x}"
        if area.addr < prev_end or area.addr + area.size > v.vmalloc_end:
            problems.append(f"{where}: overlaps its neighbour or leaves the vmalloc area")
        prev_end = area.addr + area.size
        if area.nr_pages != (area.size >> shift) - 1:
            problems.append(f"{where}: {area.nr_pages} pages for {area.size} bytes")
        for i, pfn in enumerate(area.pages):
            if v.vm_ptes.get((area.addr >> shift) + i) != pfn:
                problems.append(f"{where}: page {i} (pfn {pfn:#x}) is not mapped there")
            if mem_map[pfn] is not VMALLOC or v.page_alloc.alloc_order.get(pfn) != 0:
                problems.append(f"{where}: page {i} (pfn {pfn:#x}) is {mem_map[pfn]!r}")
        mapped += area.nr_pages
    if v.vm_addrs != [area.addr for area in v.vmlist]:
        problems.append("vmalloc: the address index disagrees with vmlist")
    if mapped != len(v.vm_ptes):
        problems.append(f"vmalloc: {len(v.vm_ptes)} pages mapped, areas hold {mapped}")
    for index, pfn in v.vm_pte_pages.items():
        if mem_map[pfn] is not PGTABLE:
            problems.append(f"vmalloc: page table {index} (pfn {pfn:#x}) is {mem_map[pfn]!r}")
    return problems


def get_vmalloc_info(v: Vmalloc) -> tuple[int, int, int]:
    """(VmallocTotal, VmallocUsed, VmallocChunk) in kB, as 2.6
    get_vmalloc_info: used counts whole areas (guard pages included),
    chunk is the largest gap."""
    used = 0
    largest = 0
    prev_end = v.vmalloc_start
    for area in v.vmlist:
        used += area.size
        largest = max(largest, area.addr - prev_end)
        prev_end = area.addr + area.size
    largest = max(largest, v.vmalloc_end - prev_end)
    return (v.vmalloc_end - v.vmalloc_start) >> 10, used >> 10, largest >> 10


def vmallocinfo(k: Kernel) -> str:
    """/proc/vmallocinfo; the renderer lives with the others (procfs.vmallocinfo)."""
    from .procfs import vmallocinfo as render  # procfs imports this module's VM_* flags
    return render(k)
