"""Architectures: what a kernel version's machine looks like to mm/.

An `Arch` is data only: page size, the kernel's address space, the zone layout,
the sizes of the structures whose size shows in /proc (struct page, pointers),
the cache line. Parts read it; nothing here computes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZoneSpan:
    """One zone type: its name and the physical range [lo, hi) it may cover."""
    name: str
    lo: int
    hi: int


@dataclass(frozen=True)
class Arch:
    name: str
    page_shift: int
    page_offset: int            # PAGE_OFFSET: lowmem is mapped at PAGE_OFFSET + phys
    pointer_size: int           # sizeof(void *), also kmem_bufctl_t here
    cache_line: int             # L1_CACHE_BYTES / cache_line_size()
    sizeof_struct_page: int
    zones: tuple[ZoneSpan, ...]  # zone types in index order (ZONE_DMA first)
    dma_zone_on_node0_only: bool
    max_mem: int                # the most RAM the architecture addresses
    vmalloc_end: int            # the highest end the vmalloc area may have
    bios_hole: tuple[int, int]  # the e820 hole [lo, hi) (physical addresses)
    # the e820 hole below 4 GiB for PCI [lo, hi): RAM beyond lo is placed from hi
    # on (x86_64: 3G-4G; (0, 0): none)
    pci_hole: tuple[int, int] = (0, 0)

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def address_mask(self) -> int:
        """All the bits of a kernel virtual address (a pointer)."""
        return (1 << (8 * self.pointer_size)) - 1
