"""vmalloc against the 2.6.18 source (rocklee104/linux-2.6.18 at 4ba3a12d).

The area's bounds are derived here from include/asm-i386/pgtable.h, highmem.h,
fixmap.h, kmap_types.h, apicdef.h and acpi.h for an SMP HIGHMEM4G build of the
i386 defconfig; the messages are mm/vmalloc.c's and include/asm-generic/bug.h's.
"""
from __future__ import annotations

import pytest

from allocator import Kernel, procfs
from allocator import gfp as G

PAGE_SHIFT, PAGE_SIZE = 12, 4096
PAGE_OFFSET = 0xC0000000
MAXMEM = 896 << 20                 # -__PAGE_OFFSET - __VMALLOC_RESERVE (128 MiB)
VMALLOC_OFFSET = 8 * 1024 * 1024   # pgtable.h

# fixmap.h enum fixed_addresses, for CONFIG_X86_LOCAL_APIC, CONFIG_X86_IO_APIC,
# CONFIG_HIGHMEM, CONFIG_ACPI, CONFIG_PCI_MMCONFIG (all y in the i386 defconfig
# with SMP and HIGHMEM4G), no VISWS, F00F (CONFIG_MK7) or cyclone timer.
MAX_IO_APICS = 64                  # apicdef.h
KM_TYPE_NR = 13                    # kmap_types.h: KM_BOUNCE_READ .. KM_SOFTIRQ1
NR_CPUS = 8                        # arch/i386/Kconfig: default "8"
FIX_ACPI_PAGES = 4                 # acpi.h
NR_FIX_BTMAPS = 16
FIXED = (["FIX_HOLE", "FIX_VDSO", "FIX_APIC_BASE"]
         + ["FIX_IO_APIC_BASE"] * MAX_IO_APICS
         + ["FIX_KMAP"] * (KM_TYPE_NR * NR_CPUS)
         + ["FIX_ACPI"] * FIX_ACPI_PAGES
         + ["FIX_PCIE_MCFG"])
END_OF_PERMANENT = len(FIXED)
END_OF_FIXED = END_OF_PERMANENT + NR_FIX_BTMAPS + 1   # FIX_BTMAP_BEGIN, FIX_WP_TEST
FIXADDR_TOP = 0xFFFFF000
FIXADDR_BOOT_START = FIXADDR_TOP - (END_OF_FIXED << PAGE_SHIFT)
LAST_PKMAP = 1024                  # highmem.h without CONFIG_X86_PAE
PMD_MASK = ~((1 << 22) - 1)        # two-level paging: 4 MiB
PKMAP_BASE = (FIXADDR_BOOT_START - PAGE_SIZE * (LAST_PKMAP + 1)) & PMD_MASK
VMALLOC_END = PKMAP_BASE - 2 * PAGE_SIZE


def vmalloc_start(mem: int) -> int:
    high_memory = PAGE_OFFSET + min(mem, MAXMEM)
    return (high_memory + 2 * VMALLOC_OFFSET - 1) & ~(VMALLOC_OFFSET - 1)


def log_of(k: Kernel) -> list[tuple[int, str]]:
    return [(r.level, r.text) for r in k.log.records]


def test_the_derived_constants():
    assert END_OF_FIXED == 193 and FIXADDR_BOOT_START == 0xFFF3E000
    assert PKMAP_BASE == 0xFF800000 and VMALLOC_END == 0xFF7FE000


@pytest.mark.parametrize("mem, total_kb", [(64 << 20, 966648), (896 << 20, 114680),
                                           (1 << 30, 114680), (2 << 30, 114680)])
def test_vmalloc_total_is_vmalloc_end_minus_vmalloc_start(kernel, mem, total_kb):
    k = kernel(mem=mem)
    assert k.vmalloc_start == vmalloc_start(mem)
    assert k.vmalloc_end == VMALLOC_END
    assert (VMALLOC_END - vmalloc_start(mem)) >> 10 == total_kb
    assert f"VmallocTotal: {total_kb:8d} kB\n" in procfs.meminfo(k)


def test_out_of_vmalloc_space_prints_the_2618_warning_rate_limited(kernel):
    k = kernel(mem=1 << 30)           # 112 MiB of vmalloc space
    a = k.vmalloc(100 << 20)
    assert a is not None
    for _ in range(12):
        assert k.vmalloc(20 << 20) is None
    # __get_vm_area_node: if (printk_ratelimit()) printk(KERN_WARNING "allocation failed: ...")
    msg = (4, "allocation failed: out of vmalloc space - use vmalloc=<size> to increase size.")
    assert log_of(k).count(msg) == 10  # printk_ratelimit: a burst of 10
    assert not any("vmap allocation" in text for _, text in log_of(k))
    k.vfree(a)
    assert k.vmlist == []


def test_bad_vfree_warns_with_the_line_of_its_warn_on_and_a_stack(kernel):
    k = kernel(mem=32 << 20)
    a = k.vmalloc(2 * PAGE_SIZE)
    k.vfree(a + 8)
    k.vfree(a + PAGE_SIZE)
    records = log_of(k)
    texts = [t for _, t in records]
    # __vunmap: printk(KERN_ERR "Trying to vfree() bad address (%p)\n", addr); WARN_ON(1);
    # (mm/vmalloc.c line 321) and "... nonexistent vm area (%p)\n" ... WARN_ON(1); (line 329)
    i = texts.index(f"Trying to vfree() bad address ({a + 8:08x})")
    assert records[i][0] == 3
    assert records[i + 1] == (4, "BUG: warning at mm/vmalloc.c:321/__vunmap()")
    assert records[i + 2][1].startswith(" [<")      # dump_stack: " [<%08lx>] %s"
    j = texts.index(f"Trying to vfree() nonexistent vm area ({a + PAGE_SIZE:08x})")
    assert records[j + 1] == (4, "BUG: warning at mm/vmalloc.c:329/__vunmap()")
    assert records[j + 2][1].startswith(" [<")


def test_the_page_array_is_kmalloced_without_gfp_zero_and_cleared(kernel):
    k = kernel(mem=32 << 20)
    seen = []
    k.trace.hook = lambda event, cachep, objp, flags, size=None: seen.append((event, flags, size))
    k.update_fault_injection()
    a = k.vmalloc(3 * PAGE_SIZE)
    k.trace.hook = None
    k.update_fault_injection()
    area = k.find_vm_area(a)
    kmallocs = [(flags, size) for event, flags, size in seen if event == "kmalloc"]
    # kmalloc_node(sizeof(*area), GFP_KERNEL) then kmalloc_node(array_size, gfp_mask & ~__GFP_HIGHMEM)
    assert (G.GFP_KERNEL, 28) in kmallocs and (G.GFP_KERNEL, 12) in kmallocs
    assert not any(flags & G.__GFP_ZERO for flags, _ in kmallocs)
    assert bytes(k.mem.read(area.pages_addr, 12)) == bytes(12)   # memset(area->pages, 0, array_size)
