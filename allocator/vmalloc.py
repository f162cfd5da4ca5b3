"""vmalloc after 2.6 mm/vmalloc.c, on i386.

A vmalloc'd buffer is contiguous only in kernel virtual addresses: get_vm_area
finds a gap in the vmalloc area (first fit, each area followed by one unmapped
guard page), the pages are allocated one by one (GFP_KERNEL|__GFP_HIGHMEM:
HighMem first) and mapped by page-table entries. Reading or writing through a
vmalloc address goes through that page table, one frame at a time.

The area starts 8 MiB above the end of lowmem (arch/i386 pgtable.h:
VMALLOC_START = (high_memory + 2*VMALLOC_OFFSET-1) & ~(VMALLOC_OFFSET-1)) and is
__VMALLOC_RESERVE = 128 MiB long, ending no later than i386's VMALLOC_END
(PKMAP_BASE - 2 pages), so a machine with 896 MiB or more of lowmem shows the
real box's `VmallocTotal: 114680 kB`.
"""
from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Optional

from .gfp import F
from .page_alloc import HIGHMEM_START, PageOwner
from .physmem import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .printk import KERN_ALERT, KERN_ERR, KERN_WARNING

VMALLOC_OFFSET = 8 << 20
VMALLOC_RESERVE = 128 << 20
PKMAP_BASE = 0xFF800000
VMALLOC_END_I386 = PKMAP_BASE - 2 * PAGE_SIZE
PMD_SHIFT = 22                 # i386 without PAE: one page table maps 4 MiB
PTRS_PER_PTE = 1024
# PAGE_KERNEL: _PAGE_PRESENT|_PAGE_RW|_PAGE_ACCESSED|_PAGE_DIRTY|_PAGE_GLOBAL
PAGE_KERNEL = 0x163
# include/linux/vmalloc.h (2.6.2x)
VM_IOREMAP, VM_ALLOC, VM_MAP, VM_USERMAP, VM_VPAGES = 0x1, 0x2, 0x4, 0x8, 0x10
SIZEOF_VM_STRUCT = 28          # i386: next, addr, size, flags, pages, nr_pages, phys_addr
SIZEOF_PAGE_POINTER = 4
# __GFP_DMA and __GFP_HIGHMEM are not for the bookkeeping (GFP_LEVEL_MASK)
GFP_LEVEL_MASK = ~(F.DMA | F.HIGHMEM)
GFP_VMALLOC = F.WAIT | F.IO | F.FS | F.HIGHMEM  # GFP_KERNEL | __GFP_HIGHMEM

VMALLOC = PageOwner("vmalloc")    # a frame mapped into the vmalloc area
PGTABLE = PageOwner("pgtable")    # a kernel page table for the vmalloc area

_pack_pte = struct.Struct("<I").pack_into


@dataclass(eq=False)
class VmStruct:
    """struct vm_struct. `size` includes the guard page, as in 2.6."""
    addr: int
    size: int
    flags: int
    caller: Optional[str] = None
    pages: list = field(default_factory=list)   # pfn of each mapped page
    struct_addr: int = 0                        # the kmalloc'd vm_struct
    pages_addr: int = 0                         # the page pointer array

    @property
    def nr_pages(self) -> int:
        return len(self.pages)

    def __repr__(self) -> str:
        return f"<VmStruct {self.addr:#010x}+{self.size:#x} pages={self.nr_pages}>"


class VmallocMixin:
    """The vmalloc half of Kernel."""

    def _vmalloc_init(self) -> None:
        lowmem = min(self.nr_pages << PAGE_SHIFT, HIGHMEM_START)
        high_memory = PAGE_OFFSET + lowmem
        self.vmalloc_start = (high_memory + 2 * VMALLOC_OFFSET - 1) & ~(VMALLOC_OFFSET - 1)
        self.vmalloc_end = min(self.vmalloc_start + VMALLOC_RESERVE, VMALLOC_END_I386)
        self.vmlist: list[VmStruct] = []     # sorted by address, as 2.6's vmlist
        self._vm_addrs: list[int] = []       # the same addresses, for bisect
        self._vm_hint = 0                    # vmlist[:hint] has no gap between areas
        self.vm_ptes: dict[int, int] = {}    # virtual page number -> pfn
        self.vm_pte_pages: dict[int, int] = {}  # page-table index (addr >> 22) -> pfn

    # -- the area ------------------------------------------------------------

    def get_vm_area(self, size: int, flags: int = VM_ALLOC, caller: Optional[str] = None,
                    gfp_mask: int = F.WAIT | F.IO | F.FS) -> Optional[VmStruct]:
        """Reserve size bytes (rounded up to pages) plus a guard page of the
        vmalloc area, first fit. Returns the area (nothing mapped) or None."""
        size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if size <= 0:
            return None
        size += PAGE_SIZE  # the guard page
        struct_addr = self.kmalloc(SIZEOF_VM_STRUCT, gfp_mask & GFP_LEVEL_MASK)
        if struct_addr is None:
            return None
        vmlist = self.vmlist
        i = self._vm_hint
        addr = vmlist[i - 1].addr + vmlist[i - 1].size if i else self.vmalloc_start
        hint_moves = True
        end = self.vmalloc_end
        while i < len(vmlist):
            tmp = vmlist[i]
            if tmp.addr != addr:
                if addr + size <= tmp.addr:
                    break
                hint_moves = False  # a gap too small for us, maybe not for others
            elif hint_moves:
                self._vm_hint = i + 1
            addr = tmp.addr + tmp.size
            i += 1
        if addr + size > end:
            self.kfree(struct_addr)
            self.log.printk(KERN_WARNING, f"vmap allocation for size {size} failed:"
                                          f" use vmalloc=<size> to increase size.")
            return None
        area = VmStruct(addr, size, flags, caller, struct_addr=struct_addr)
        vmlist.insert(i, area)
        self._vm_addrs.insert(i, addr)
        return area

    def find_vm_area(self, addr: int) -> Optional[VmStruct]:
        """The area starting exactly at addr, or None."""
        i = bisect.bisect_left(self._vm_addrs, addr)
        if i < len(self._vm_addrs) and self._vm_addrs[i] == addr:
            return self.vmlist[i]
        return None

    def remove_vm_area(self, addr: int) -> Optional[VmStruct]:
        """Unlink the area at addr and clear its page-table entries."""
        i = bisect.bisect_left(self._vm_addrs, addr)
        if i >= len(self._vm_addrs) or self._vm_addrs[i] != addr:
            return None
        area = self.vmlist.pop(i)
        del self._vm_addrs[i]
        if i < self._vm_hint:
            self._vm_hint = i
        self._unmap_vm_area(area)
        return area

    # -- page tables ------------------------------------------------------------

    def _pte_page(self, vaddr: int, gfp_mask: int) -> Optional[int]:
        """pte_alloc_kernel: the page table covering vaddr, allocated on first
        use with GFP_KERNEL|__GFP_REPEAT|__GFP_ZERO; kernel page tables of the
        vmalloc area are never freed (2.6 vunmap leaves them)."""
        index = vaddr >> PMD_SHIFT
        pfn = self.vm_pte_pages.get(index)
        if pfn is None:
            pfn = self.alloc_pages((gfp_mask & ~F.HIGHMEM) | F.REPEAT | F.ZERO, 0, owner=PGTABLE)
            if pfn is not None:
                self.vm_pte_pages[index] = pfn
        return pfn

    def _map_vm_area(self, area: VmStruct, gfp_mask: int) -> bool:
        ptes = self.vm_ptes
        view = self.mem.view
        vaddr = area.addr
        for pfn in area.pages:
            table = self._pte_page(vaddr, gfp_mask)
            if table is None:
                return False
            ptes[vaddr >> PAGE_SHIFT] = pfn
            if pfn < (1 << 20):  # a 32-bit (non-PAE) entry can hold it
                _pack_pte(view, (table << PAGE_SHIFT) + ((vaddr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)) * 4,
                          (pfn << PAGE_SHIFT) | PAGE_KERNEL)
            vaddr += PAGE_SIZE
        return True

    def _unmap_vm_area(self, area: VmStruct) -> None:
        ptes = self.vm_ptes
        view = self.mem.view
        vpn = area.addr >> PAGE_SHIFT
        for _ in range(area.nr_pages):
            if ptes.pop(vpn, None) is not None:
                table = self.vm_pte_pages.get(vpn >> (PMD_SHIFT - PAGE_SHIFT))
                if table is not None:
                    _pack_pte(view, (table << PAGE_SHIFT) + (vpn & (PTRS_PER_PTE - 1)) * 4, 0)
            vpn += 1

    # -- vmalloc / vfree --------------------------------------------------------

    def vmalloc(self, size: int, caller: Optional[str] = None):
        """Return the kernel virtual address of size bytes (page-rounded), or
        None. Pages come one at a time, HighMem first; not zeroed. May sleep."""
        return self.vmalloc_gfp(size, GFP_VMALLOC, caller)

    def vmalloc_32(self, size: int, caller: Optional[str] = None):
        """vmalloc from lowmem only (GFP_KERNEL)."""
        return self.vmalloc_gfp(size, F.WAIT | F.IO | F.FS, caller)

    def vmalloc_gfp(self, size: int, gfp_mask: int, caller: Optional[str] = None):
        """The kernel's __vmalloc(size, gfp_mask, PAGE_KERNEL): the address, or
        None on any failure, with everything allocated so far given back."""
        size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if size <= 0 or (size >> PAGE_SHIFT) > self.totalram_pages:
            return None
        area = self.get_vm_area(size, VM_ALLOC, caller, gfp_mask)
        if area is None:
            return None
        nr_pages = (area.size - PAGE_SIZE) >> PAGE_SHIFT
        array_size = nr_pages * SIZEOF_PAGE_POINTER
        if array_size > PAGE_SIZE:
            area.flags |= VM_VPAGES
            pages_addr = self.vmalloc_gfp(array_size, gfp_mask | F.ZERO, caller)
        else:
            pages_addr = self.kmalloc(array_size, (gfp_mask & GFP_LEVEL_MASK) | F.ZERO)
        if pages_addr is None:
            self.remove_vm_area(area.addr)
            self.kfree(area.struct_addr)
            return None
        area.pages_addr = pages_addr
        pages = area.pages
        for _ in range(nr_pages):
            pfn = self.alloc_pages(gfp_mask, 0, owner=VMALLOC)
            if pfn is None:
                self.vfree(area.addr)
                return None
            pages.append(pfn)
        if not self._map_vm_area(area, gfp_mask):
            self.vfree(area.addr)
            return None
        return area.addr

    def vfree(self, addr) -> None:
        """Unmap and free a vmalloc'd area; vfree(None) does nothing. An
        address that does not start an area is the logged 2.6 error + warning."""
        if not addr:
            return
        if addr & (PAGE_SIZE - 1):
            self.log.printk(KERN_ERR, f"Trying to vfree() bad address ({addr & 0xFFFFFFFF:08x})")
            self._vunmap_warning()
            return
        area = self.remove_vm_area(addr)
        if area is None:
            self.log.printk(KERN_ERR, f"Trying to vfree() nonexistent vm area ({addr & 0xFFFFFFFF:08x})")
            self._vunmap_warning()
            return
        for pfn in area.pages:
            self.free_pages_pfn(pfn, 0)
        area.pages = []
        if area.flags & VM_VPAGES:
            self.vfree(area.pages_addr)
        elif area.pages_addr:
            self.kfree(area.pages_addr)
        self.kfree(area.struct_addr)

    def _vunmap_warning(self) -> None:
        # WARN_ON(1) in __vunmap (2.6.18 prints "BUG: warning at file:line/func()")
        self.log.printk(KERN_ERR, "BUG: warning at mm/vmalloc.c/__vunmap()")

    # -- access through the page table -------------------------------------------

    def vmalloc_to_pfn(self, addr: int) -> Optional[int]:
        """The frame behind a vmalloc address, or None (unmapped: a guard page,
        a hole, or outside the area)."""
        return self.vm_ptes.get(addr >> PAGE_SHIFT)

    def _vm_fault(self, addr: int) -> None:
        self.log.printk(KERN_ALERT, f"BUG: unable to handle kernel paging request at virtual"
                                    f" address {addr & 0xFFFFFFFF:08x}")

    def vmalloc_write(self, addr: int, data) -> int:
        """Copy data to a vmalloc address, page by page. Returns the bytes
        copied; an unmapped page stops the copy with a logged paging oops."""
        ptes = self.vm_ptes
        view = self.mem.view
        src = memoryview(data)
        total = len(src)
        done = 0
        while done < total:
            pfn = ptes.get(addr >> PAGE_SHIFT)
            if pfn is None:
                self._vm_fault(addr)
                return done
            off = addr & (PAGE_SIZE - 1)
            n = PAGE_SIZE - off
            if n > total - done:
                n = total - done
            phys = (pfn << PAGE_SHIFT) + off
            view[phys:phys + n] = src[done:done + n]
            done += n
            addr += n
        return done

    def vmalloc_read(self, addr: int, n: int):
        """n bytes at a vmalloc address, gathered from its frames (a memoryview
        when they lie in one page). Short, with a logged oops, at an unmapped page."""
        ptes = self.vm_ptes
        view = self.mem.view
        parts = []
        while n > 0:
            pfn = ptes.get(addr >> PAGE_SHIFT)
            if pfn is None:
                self._vm_fault(addr)
                break
            off = addr & (PAGE_SIZE - 1)
            k = PAGE_SIZE - off
            if k > n:
                k = n
            phys = (pfn << PAGE_SHIFT) + off
            parts.append(view[phys:phys + k])
            addr += k
            n -= k
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def vmalloc_zero(self, addr: int, n: int) -> int:
        """memset(addr, 0, n) through the page table; returns the bytes zeroed."""
        ptes = self.vm_ptes
        mem = self.mem
        done = 0
        while done < n:
            pfn = ptes.get(addr >> PAGE_SHIFT)
            if pfn is None:
                self._vm_fault(addr)
                return done
            off = addr & (PAGE_SIZE - 1)
            k = min(PAGE_SIZE - off, n - done)
            mem.zero((pfn << PAGE_SHIFT) + off, k)
            done += k
            addr += k
        return done

    # -- reports ------------------------------------------------------------------

    def vmalloc_check(self) -> list[str]:
        """The vmalloc side of the consistency check: areas sorted, inside the
        area and apart; every page of an area mapped in order, allocated, tagged
        vmalloc; nothing else mapped."""
        problems = []
        prev_end = self.vmalloc_start
        mapped = 0
        for area in self.vmlist:
            where = f"vmalloc area {area.addr:#010x}"
            if area.addr < prev_end or area.addr + area.size > self.vmalloc_end:
                problems.append(f"{where}: overlaps its neighbour or leaves the vmalloc area")
            prev_end = area.addr + area.size
            if area.nr_pages != (area.size >> PAGE_SHIFT) - 1:
                problems.append(f"{where}: {area.nr_pages} pages for {area.size} bytes")
            for i, pfn in enumerate(area.pages):
                if self.vm_ptes.get((area.addr >> PAGE_SHIFT) + i) != pfn:
                    problems.append(f"{where}: page {i} (pfn {pfn:#x}) is not mapped there")
                if self.mem_map[pfn] is not VMALLOC or self.alloc_order.get(pfn) != 0:
                    problems.append(f"{where}: page {i} (pfn {pfn:#x}) is {self.mem_map[pfn]!r}")
            mapped += area.nr_pages
        if self._vm_addrs != [area.addr for area in self.vmlist]:
            problems.append("vmalloc: the address index disagrees with vmlist")
        if mapped != len(self.vm_ptes):
            problems.append(f"vmalloc: {len(self.vm_ptes)} pages mapped, areas hold {mapped}")
        for index, pfn in self.vm_pte_pages.items():
            if self.mem_map[pfn] is not PGTABLE:
                problems.append(f"vmalloc: page table {index} (pfn {pfn:#x}) is {self.mem_map[pfn]!r}")
        return problems

    def vmalloc_info(self) -> tuple[int, int, int]:
        """(VmallocTotal, VmallocUsed, VmallocChunk) in kB, as 2.6
        get_vmalloc_info: used counts whole areas (guard pages included),
        chunk is the largest gap."""
        used = 0
        largest = 0
        prev_end = self.vmalloc_start
        for area in self.vmlist:
            used += area.size
            largest = max(largest, area.addr - prev_end)
            prev_end = area.addr + area.size
        largest = max(largest, self.vmalloc_end - prev_end)
        return (self.vmalloc_end - self.vmalloc_start) >> 10, used >> 10, largest >> 10

    def vmalloc_pages(self) -> int:
        """Frames mapped into the vmalloc area (page tables not included)."""
        return len(self.vm_ptes)


def vmallocinfo(k) -> str:
    """/proc/vmallocinfo as 2.6.2x mm/vmalloc.c s_show prints it:
    `0x%p-0x%p %7ld` [caller] [` pages=%d`] [` vmalloc`] [` vpages`] [` N<node>=<n>`]."""
    out = []
    for v in k.vmlist:
        line = f"0x{v.addr:08x}-0x{v.addr + v.size:08x} {v.size:7d}"
        if v.caller:
            line += " " + v.caller
        if v.nr_pages:
            line += f" pages={v.nr_pages}"
        if v.flags & VM_IOREMAP:
            line += " ioremap"
        if v.flags & VM_ALLOC:
            line += " vmalloc"
        if v.flags & VM_MAP:
            line += " vmap"
        if v.flags & VM_USERMAP:
            line += " user"
        if v.flags & VM_VPAGES:
            line += " vpages"
        if k.numa and v.flags & VM_ALLOC and v.pages:
            counts: dict[int, int] = {}
            for pfn in v.pages:
                nid = k.zone_of(pfn).node.id
                counts[nid] = counts.get(nid, 0) + 1
            line += "".join(f" N{nid}={n}" for nid, n in sorted(counts.items()))
        out.append(line + "\n")
    return "".join(out)
