"""x86_64 (4-level paging, SPARSEMEM_VMEMMAP): the machine of Linux 6.18 here.

Zone boundaries: arch/x86/include/asm/dma.h MAX_DMA_PFN (16 MiB) and
MAX_DMA32_PFN (4 GiB); Normal is everything above (max_low_pfn = max_pfn on
64-bit); Movable and Device stay empty (no kernelcore=, no ZONE_DEVICE
memory). The direct map starts at PAGE_OFFSET 0xffff888000000000
(arch/x86/include/asm/page_64_types.h __PAGE_OFFSET_BASE_L4, KASLR of the
memory regions off). The e820 map is the Firecracker/QEMU-style one of the
reference (§1): RAM below min(RAM, 3 GiB) with the 0x9fc00-0x100000 BIOS
hole, the PCI hole 3-4 GiB, the rest from 4 GiB. vmalloc space:
VMALLOC_START 0xffffc90000000000, VMALLOC_SIZE_TB 32
(arch/x86/include/asm/pgtable_64_types.h).
"""
from __future__ import annotations

from . import Arch, ZoneSpan

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_OFFSET = 0xFFFF888000000000
MAX_DMA_ADDRESS = 16 << 20          # MAX_DMA_PFN << PAGE_SHIFT
MAX_DMA32_ADDRESS = 4 << 30         # MAX_DMA32_PFN << PAGE_SHIFT
VMALLOC_START = 0xFFFFC90000000000
VMALLOC_END = VMALLOC_START + (32 << 40) - 1
PCI_HOLE = (3 << 30, 4 << 30)
TOP = 1 << 46                       # MAX_PHYSMEM_BITS 46 (4-level)

X86_64 = Arch(
    name="x86_64",
    page_shift=PAGE_SHIFT,
    page_offset=PAGE_OFFSET,
    pointer_size=8,
    cache_line=64,
    sizeof_struct_page=64,
    zones=(ZoneSpan("DMA", 0, MAX_DMA_ADDRESS),
           ZoneSpan("DMA32", MAX_DMA_ADDRESS, MAX_DMA32_ADDRESS),
           ZoneSpan("Normal", MAX_DMA32_ADDRESS, TOP),
           ZoneSpan("Movable", TOP, TOP),
           ZoneSpan("Device", TOP, TOP)),
    dma_zone_on_node0_only=False,
    max_mem=64 << 30,
    vmalloc_end=VMALLOC_END,
    bios_hole=(0x9F000, 0x100000),  # e820 RAM ends at 0x9fc00: pfn 0x9f is partial
    pci_hole=PCI_HOLE,
)
