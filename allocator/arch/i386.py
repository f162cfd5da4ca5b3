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

# Kernel text for dump_stack's " [<addr>] symbol+off/size" lines: symbol ->
# (address, size). INVENTED for the simulation (no System.map of the simulated
# kernel exists); plausible i386 2.6.18 places: mm/ around 0xc014xxxx, the
# syscall path in arch/i386/kernel and fs/ (docs/deviations.md). Module text
# (the drivers) is placed in the vmalloc area, 0xf88xxxxx, as insmod puts it.
KERNEL_TEXT: dict[str, tuple[int, int]] = {
    "sysenter_past_esp": (0xC0102D93, 0x75),
    "show_trace": (0xC01042E4, 0x1A),
    "dump_stack": (0xC0104451, 0x17),
    "__alloc_pages": (0xC0143B4F, 0x291),
    "__get_free_pages": (0xC0143DF0, 0x3C),
    "get_zeroed_page": (0xC0143E2C, 0x44),
    "alloc_pages_current": (0xC015661C, 0x78),
    "kmem_getpages": (0xC015A1D8, 0x8E),
    "cache_grow": (0xC015AE62, 0x12C),
    "cache_alloc_refill": (0xC015B1A7, 0x1C6),
    "kmem_cache_alloc": (0xC015B50C, 0x7A),
    "kmem_cache_zalloc": (0xC015B586, 0x56),
    "__kmalloc": (0xC015B7F1, 0x7C),
    "kzalloc": (0xC0146A05, 0x2B),
    "__vmalloc_area_node": (0xC01551A2, 0xF8),
    "__vmalloc_node": (0xC01552B8, 0x5A),
    "__vmalloc": (0xC0155312, 0x1E),
    "vmalloc": (0xC0155330, 0x1E),
    "mempool_alloc": (0xC0141D2C, 0xB9),
    "mempool_alloc_slab": (0xC0141E64, 0x12),
    "mempool_kmalloc": (0xC0141E9A, 0x12),
    "mempool_alloc_pages": (0xC0141EC4, 0x19),
    "out_of_memory": (0xC01428A9, 0x157),
    "vmalloc_32": (0xC015534E, 0x1E),
    "vfs_write": (0xC016C1B8, 0x102),
    "sys_write": (0xC016C88E, 0x5C),
    "vfs_read": (0xC016BFE1, 0x102),
    "sys_read": (0xC016C3A4, 0x5C),
    "do_ioctl": (0xC017A3C2, 0x5C),
    "vfs_ioctl": (0xC017A41E, 0x240),
    "sys_ioctl": (0xC017A6A4, 0x6D),
}
MODULE_TEXT_BASE = 0xF8862000
