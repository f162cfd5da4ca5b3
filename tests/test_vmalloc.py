"""vmalloc as 2.6 mm/vmalloc.c on i386: the area, guard pages, page-by-page
backing from non-contiguous frames, vfree and its complaints, the reports."""
from __future__ import annotations

import os
import re

import pytest

from allocator import Kernel, procfs
from allocator import gfp as G
from allocator.page_alloc import ZONE_HIGHMEM
from allocator.physmem import PAGE_SIZE
from allocator.vmalloc import PGTABLE, VMALLOC, vmallocinfo

VMALLOCINFO_LINE = re.compile(r"^0x([0-9a-f]{8})-0x([0-9a-f]{8}) +(\d+)( \S+( \[\w+\])?)?"
                              r" pages=(\d+) vmalloc( vpages)?$")


@pytest.fixture
def boot(kernel):
    """boot(mem, **options) -> a Kernel without background caches (the shared `kernel` fixture)."""
    def boot(mem: int = 32 << 20, **kw) -> Kernel:
        return kernel(mem=mem, background=0, **kw)
    return boot


def log_text(k: Kernel) -> str:
    return "\n".join(r.text for r in k.log.records)


def free_pages_now(k: Kernel) -> int:
    """Free pages once the slab caches have let their empty slabs go."""
    for cachep in k.cache_chain:
        k.kmem_cache_shrink(cachep)
    k.drain_all_pages()
    return k.nr_free_pages()


def test_vmalloc_area_starts_8mib_above_lowmem_and_ends_at_vmalloc_end(boot):
    k = boot(256 << 20)
    assert k.vmalloc_start == 0xC0000000 + (256 << 20) + (8 << 20)
    assert k.vmalloc_end == 0xFF7FE000  # 2.6.18: VMALLOC_END = PKMAP_BASE - 2*PAGE_SIZE, no 128 MiB cap
    assert "VmallocTotal:   770040 kB" in procfs.meminfo(k)
    assert k.vmalloc_info() == (770040, 0, 770040)


def test_vmalloc_area_of_a_highmem_machine_ends_at_i386_vmalloc_end(boot):
    k = boot(1 << 30)
    assert k.vmalloc_start == 0xF8800000  # 896 MiB of lowmem, then the 8 MiB hole
    assert k.vmalloc_end == 0xFF7FE000    # PKMAP_BASE - 2 pages
    assert k.vmalloc_info()[0] == 114680   # what a real i386 box with >=1G shows


def test_vmalloc_takes_highmem_pages_first_and_vmalloc_32_takes_lowmem(boot):
    k = boot(1 << 30)
    addr = k.vmalloc(16 * PAGE_SIZE)
    low = k.vmalloc_32(16 * PAGE_SIZE)
    for i in range(16):
        assert k.zone_of(k.vmalloc_to_pfn(addr + i * PAGE_SIZE)).idx == ZONE_HIGHMEM
        assert k.zone_of(k.vmalloc_to_pfn(low + i * PAGE_SIZE)).idx != ZONE_HIGHMEM


def test_vmalloc_works_from_non_contiguous_pages_where_a_contiguous_block_cannot(boot):
    k = boot(16 << 20)
    pages = []
    while (pfn := k.alloc_pages(G.GFP_ATOMIC | G.__GFP_NOWARN, 0)) is not None:
        pages.append(pfn)
    for pfn in sorted(pages)[::2]:  # every other frame back: no two free frames are buddies
        k.free_pages_pfn(pfn, 0)
    k.drain_all_pages()
    assert k.alloc_pages(G.GFP_KERNEL | G.__GFP_NOWARN, 4) is None  # no 64 KiB block
    addr = k.vmalloc(65536)
    assert addr is not None
    pfns = [k.vmalloc_to_pfn(addr + i * PAGE_SIZE) for i in range(16)]
    assert all(b != a + 1 for a, b in zip(pfns, pfns[1:]))
    data = os.urandom(65536)
    assert k.vmalloc_write(addr, data) == 65536
    assert bytes(k.vmalloc_read(addr, 65536)) == data
    # each page of the buffer really lives in its own frame
    for i, pfn in enumerate(pfns):
        assert bytes(k.mem.read(pfn * PAGE_SIZE, PAGE_SIZE)) == data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
    # a read and a write that straddle a page boundary
    assert k.vmalloc_write(addr + 4000, b"z" * 200) == 200
    assert bytes(k.vmalloc_read(addr + 3990, 220)) == data[3990:4000] + b"z" * 200 + data[4200:4210]


def test_each_vmalloc_area_is_followed_by_an_unmapped_guard_page(boot):
    k = boot()
    a = k.vmalloc(8192)
    b = k.vmalloc(100)  # rounded up to a page
    assert b == a + 8192 + PAGE_SIZE
    assert k.find_vm_area(a).size == 8192 + PAGE_SIZE
    assert k.vmalloc_to_pfn(a + 8191) is not None
    assert k.vmalloc_to_pfn(a + 8192) is None   # the guard page
    assert k.vmalloc_write(a + 8190, b"abcd") == 2  # the overrun stops at the guard page...
    assert "unable to handle kernel paging request at virtual address" in log_text(k)  # ...as an oops
    assert f"{a + 8192:08x}" in log_text(k)
    assert len(k.vmalloc_read(a + 8190, 4)) == 2


def test_vfree_of_a_bad_address_is_a_logged_bug_and_changes_nothing(boot):
    k = boot()
    a = k.vmalloc(8192)
    k.vmalloc_write(a, b"kept")
    k.vfree(a + 1)
    k.vfree(a + PAGE_SIZE)  # inside the area but not its start
    k.vfree(0x12345000)     # nowhere near the vmalloc area
    k.vfree(None)           # vfree(NULL) is fine and silent
    text = log_text(k)
    assert f"Trying to vfree() bad address ({a + 1:08x})" in text
    assert f"Trying to vfree() nonexistent vm area ({a + PAGE_SIZE:08x})" in text
    assert "Trying to vfree() nonexistent vm area (12345000)" in text
    assert text.count("BUG: warning at mm/vmalloc.c") == 3
    assert bytes(k.vmalloc_read(a, 4)) == b"kept"


def test_double_vfree_is_a_logged_bug_and_frees_nothing_twice(boot):
    k = boot()
    a = k.vmalloc(3 * PAGE_SIZE)
    k.vfree(a)
    before = free_pages_now(k)
    k.vfree(a)
    assert "Trying to vfree() nonexistent vm area" in log_text(k)
    assert "Bad page state" not in log_text(k)
    assert free_pages_now(k) == before


def test_vfree_gives_back_every_page_and_the_bookkeeping(boot):
    k = boot()
    k.vmalloc(PAGE_SIZE)  # the first page table is allocated once and kept
    before = free_pages_now(k)
    small = {size: len(k.kmalloc_cache_for(size, 0).live) for size in (32, 64, 128)}
    a = k.vmalloc(20 * PAGE_SIZE)
    assert all(k.mem_map[k.vmalloc_to_pfn(a + i * PAGE_SIZE)] is VMALLOC for i in range(20))
    assert free_pages_now(k) <= before - 20
    k.vfree(a)
    assert free_pages_now(k) == before
    assert {size: len(k.kmalloc_cache_for(size, 0).live) for size in (32, 64, 128)} == small
    assert all(k.vmalloc_to_pfn(a + i * PAGE_SIZE) is None for i in range(20))


def test_vmalloc_page_tables_are_real_pages_holding_i386_ptes(boot):
    k = boot()
    a = k.vmalloc(2 * PAGE_SIZE)
    table = k.vm_pte_pages[a >> 22]
    assert k.mem_map[table] is PGTABLE
    entry = int.from_bytes(k.mem.read(table * PAGE_SIZE + ((a >> 12) & 1023) * 4, 4), "little")
    assert entry >> 12 == k.vmalloc_to_pfn(a) and entry & 0xFFF == 0x163  # PAGE_KERNEL


def test_vfree_makes_its_gap_reusable_first_fit(boot):
    k = boot()
    a, b, c = (k.vmalloc(4 * PAGE_SIZE) for _ in range(3))
    k.vfree(b)
    assert k.vmalloc(PAGE_SIZE) == b  # first fit: the hole left by b
    assert k.vmalloc(2 * PAGE_SIZE) == b + 2 * PAGE_SIZE  # what is left of it
    assert k.vmalloc(2 * PAGE_SIZE) == c + 5 * PAGE_SIZE  # too big for the rest: after c


def test_vmalloc_failure_gives_back_what_it_took(boot):
    k = boot(16 << 20)
    before = free_pages_now(k)
    assert k.vmalloc(15 << 20) is None  # more pages than are free
    assert free_pages_now(k) >= before - 1  # at most the page table stays
    assert k.vmlist == []


def test_vmalloc_area_exhaustion_fails_with_a_log_line(boot):
    k = boot(1 << 30)                   # a 112 MiB area (114680 kB)
    assert k.vmalloc(120 << 20) is None
    assert "allocation failed: out of vmalloc space - use vmalloc=<size> to increase size." in log_text(k)
    assert k.vmlist == []


def test_a_big_vmalloc_keeps_its_page_array_in_vmalloc_space(boot):
    k = boot(64 << 20)
    a = k.vmalloc(8 << 20)  # 2048 page pointers: more than a page
    lines = vmallocinfo(k).splitlines()
    assert any(line.endswith("pages=2048 vmalloc vpages") for line in lines)
    k.vfree(a)
    assert vmallocinfo(k) == ""


def test_vmallocinfo_and_meminfo_have_the_kernel_formats(boot):
    k = boot(256 << 20)
    a = k.vmalloc(65536, "scullv_write+0xe0/0x2b0 [scullv]")
    b = k.vmalloc(5000)
    text = vmallocinfo(k)
    lines = text.splitlines()
    assert lines[0] == f"0x{a:08x}-0x{a + 69632:08x}   69632 scullv_write+0xe0/0x2b0 [scullv] pages=16 vmalloc"
    assert lines[1] == f"0x{b:08x}-0x{b + 12288:08x}   12288 pages=2 vmalloc"
    assert all(VMALLOCINFO_LINE.match(line) for line in lines)
    total, used, chunk = k.vmalloc_info()
    assert used == (69632 + 12288) >> 10
    assert chunk == total - used
    meminfo = procfs.meminfo(k)
    assert f"{'VmallocUsed:':<14}{used:8d} kB\n" in meminfo   # 2.6.18: labels padded to 14
    assert f"{'VmallocChunk:':<14}{chunk:8d} kB\n" in meminfo


def test_vmalloc_that_must_sleep_records_the_request_and_keeps_nothing(boot):
    k = boot(16 << 20)
    while k.alloc_pages(G.GFP_ATOMIC | G.__GFP_NOWARN, 0) is not None:
        pass
    k.sleep_ok = True
    assert k.vmalloc(4 * PAGE_SIZE) is None
    gfp, order = k.sleep_request
    assert gfp & G.__GFP_WAIT and order == 0
    assert k.vmlist == []


def test_vmalloc_state_stays_consistent_through_random_allocs_and_frees(boot):
    import random

    from allocator.check import check_kernel
    k = boot(64 << 20)
    rng = random.Random(5)
    live: dict[int, bytes] = {}
    for _ in range(400):
        if live and rng.random() < 0.45:
            addr = rng.choice(list(live))
            assert bytes(k.vmalloc_read(addr, len(live[addr]))) == live.pop(addr)
            k.vfree(addr)
        else:
            data = os.urandom(rng.randint(1, 12 * PAGE_SIZE))
            addr = k.vmalloc(len(data))
            assert addr is not None
            k.vmalloc_write(addr, data)
            live[addr] = data
    assert check_kernel(k) == []
    k.vm_ptes.pop(next(iter(k.vm_ptes)))  # and the check notices a lost mapping
    assert any("not mapped" in p for p in k.vmalloc_check())
