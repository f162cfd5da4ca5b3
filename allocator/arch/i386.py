"""i386 (x86-32, 3G/1G split, CONFIG_HIGHMEM): the machine of LDD3.

Zone boundaries: arch/i386 MAX_DMA_ADDRESS (16 MiB) and MAXMEM (896 MiB with the
128 MiB vmalloc reserve). The vmalloc area ends at VMALLOC_END = PKMAP_BASE - 2
pages (include/asm-i386/pgtable.h, PKMAP_BASE 0xff800000 without PAE).
"""
from __future__ import annotations

from . import Arch, ZoneSpan

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_OFFSET = 0xC0000000
MAX_DMA_ADDRESS = 16 << 20
HIGHMEM_START = 896 << 20
PKMAP_BASE = 0xFF800000

I386 = Arch(
    name="i386",
    page_shift=PAGE_SHIFT,
    page_offset=PAGE_OFFSET,
    pointer_size=4,
    cache_line=64,
    sizeof_struct_page=32,
    zones=(ZoneSpan("DMA", 0, MAX_DMA_ADDRESS),
           ZoneSpan("Normal", MAX_DMA_ADDRESS, HIGHMEM_START),
           ZoneSpan("HighMem", HIGHMEM_START, 1 << 62)),
    dma_zone_on_node0_only=True,
    max_mem=64 << 30,                       # PAE: 36-bit physical addresses
    vmalloc_end=PKMAP_BASE - 2 * PAGE_SIZE,
    bios_hole=(0x9F000, 0x100000),          # 636 KiB .. 1 MiB: EBDA, VGA, BIOS
)
