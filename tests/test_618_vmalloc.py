"""vmalloc of Linux 6.18 x86_64 (allocator/linux618/vmalloc.py) against
mm/vmalloc.c and arch/x86/include/asm/pgtable_64_types.h of 6.12.117, and
against this host's real /proc/vmallocinfo and meminfo
(tests/data/linux-6.18/vmalloc/, with the commands beside them)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618 import oom_kill as OOM
from allocator.linux618 import page_alloc as PA
from allocator.linux618 import slub as SL
from allocator.linux618 import vmalloc as VM
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched, set_current
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat

DATA = Path(__file__).resolve().parent / "data" / "linux-6.18" / "vmalloc"
CAPTURE = (DATA / "vmallocinfo").read_text().splitlines()
PAGE = 4096
KEY = b"vmalloc-test-key"
# one vmallocinfo line of a vmalloc'd area, as the capture shows them
VMALLOC_LINE = re.compile(r"^0x(?P<start>[0-9a-f]{16})-0x(?P<end>[0-9a-f]{16}) (?P<size>[ \d]{7,})"
                          r" (?P<caller>.+?) pages=(?P<pages>\d+) vmalloc(?P<vpages> vpages)? N0=(?P<n0>\d+)$")
UNPURGED = re.compile(r"^0x[0-9a-f]{16}-0x[0-9a-f]{16} (?P<size>[ \d]{7,}) unpurged vm_area$")
CALLER = "scullv_write+0x5c/0x1e0 [scullv]"


class Parts:
    def __init__(self, mem: int = 64 << 20, cpus: int = 2):
        self.log = KernelLog(clock=lambda: 0.0)
        self.sched = Sched(cpus, self.log.uptime)
        vm = VmStat()
        faults = FaultInject(self.log)
        trace = KmemTrace()
        vmscan = Vmscan(vm)
        self.mem = PhysMem(mem)
        self.pa = PA.PageAllocator(X86_64, self.mem, self.log, self.sched, vm, faults, trace, vmscan, 1)
        self.pa.out_of_memory_hook = OOM.out_of_memory     # as Kernel(version="6.18") boots it
        self.sl = SL.SlabAllocator(X86_64, self.pa, self.log, self.sched, vm, faults, trace, vmscan, "")
        SL.kmem_cache_init(self.sl)
        self.v = VM.Vmalloc(X86_64, self.pa, self.sl, self.mem, self.log, cpus)
        set_current(self.sched, 100, "writer")

    def dmesg(self) -> str:
        return "\n".join(r.text for r in self.log.records)

    def info(self) -> list[str]:
        return VM.vmalloc_info_show(self.v, KEY).splitlines()


@pytest.fixture
def parts() -> Parts:
    return Parts()


def test_the_x86_64_vmalloc_space():
    # pgtable_64_types.h: __VMALLOC_BASE_L4, VMALLOC_SIZE_TB_L4 = 32
    assert VM.VMALLOC_START == 0xffffc90000000000
    assert VM.VMALLOC_END == 0xffffc90000000000 + (32 << 40) - 1
    captured = dict(line.split(":") for line in (DATA / "meminfo-vmalloc").read_text().splitlines())
    assert captured["VmallocTotal"].split() == [str(VM.VMALLOC_TOTAL >> 10), "kB"]   # 34359738367


def test_a_4_page_vmalloc_is_20480_bytes_with_pages_4(parts):
    addr = VM.vmalloc(parts.v, 4 * PAGE, CALLER)
    assert addr == VM.VMALLOC_START
    [line] = parts.info()
    m = VMALLOC_LINE.match(line)
    assert m, line
    assert (int(m["size"]), m["pages"], m["n0"], m["vpages"]) == (20480, "4", "4", None)
    assert m["caller"] == CALLER
    # the capture's own 4-page vmallocs look the same
    real = [VMALLOC_LINE.match(x) for x in CAPTURE if " pages=4 vmalloc" in x]
    assert real and all(r is not None and int(r["size"]) == 20480 for r in real)
    # start and end print hashed, 16 digits, the high 8 zero, like %pK on the host
    assert m["start"].startswith("00000000") and m["end"].startswith("00000000")


def test_vmalloc_used_is_the_pages_of_the_areas(parts):
    # the capture: VmallocUsed (kB) == 4 * the sum of pages= over vmallocinfo
    pages = sum(int(p) for p in re.findall(r" pages=(\d+)", "\n".join(CAPTURE)))
    used = int((DATA / "meminfo-vmalloc").read_text().split("VmallocUsed:")[1].split()[0])
    assert used == pages * 4
    a = VM.vmalloc(parts.v, 4 * PAGE, CALLER)
    b = VM.vmalloc(parts.v, 100, CALLER)            # one page
    ours = sum(int(p) for p in re.findall(r" pages=(\d+)", "\n".join(parts.info())))
    assert VM.get_vmalloc_info(parts.v) == (34359738367, ours * 4, 0) == (34359738367, 20, 0)
    VM.vfree(parts.v, a)
    VM.vfree(parts.v, b)
    assert VM.get_vmalloc_info(parts.v)[1] == 0


def test_page_array_above_a_page_is_vmalloced_vpages(parts):
    # the capture: pages=512 (array 4096 bytes) has no vpages, pages=513 (4104 bytes) has
    assert any("pages=512 vmalloc N0=512" in x for x in CAPTURE)
    assert any("pages=513 vmalloc vpages N0=513" in x for x in CAPTURE)
    big = Parts(mem=32 << 20)
    VM.vmalloc(big.v, 512 * PAGE, CALLER)
    VM.vmalloc(big.v, 513 * PAGE, CALLER)
    lines = [VMALLOC_LINE.match(x) for x in big.info()]
    got = sorted((int(m["size"]), m["pages"], bool(m["vpages"])) for m in lines if m)
    # 512 pages + guard = 2101248; 513 + guard = 2105344 (both sizes in the capture);
    # the 513-page area's array (4104 bytes) is its own 2-page area, same caller
    assert got == [(12288, "2", False), (2101248, "512", False), (2105344, "513", True)]
    assert all(m and m["caller"] == CALLER for m in lines)
    assert any("2101248" in x for x in CAPTURE) and any("2105344" in x for x in CAPTURE)
    assert VM.get_vmalloc_info(big.v)[1] == (512 + 513 + 2) * 4


def test_vfree_leaves_an_unpurged_area_until_the_lazy_purge(parts):
    a = VM.vmalloc(parts.v, 4 * PAGE, CALLER)
    vm = VM.find_vm_area(parts.v, a)
    assert vm is not None
    pfns = list(vm.pages)
    VM.vfree(parts.v, a)
    # the pages go back at once (to the per-CPU lists: no longer allocated)
    assert all(pfn not in parts.pa.alloc_order for pfn in pfns)
    [line] = parts.info()
    m = UNPURGED.match(line)
    assert m and int(m["size"]) == 20480
    assert any(UNPURGED.match(x) for x in CAPTURE)
    # the range is not reused before the purge: the next area goes above it
    b = VM.vmalloc(parts.v, PAGE, CALLER)
    assert b == a + 20480
    assert VM.vmalloc_to_pfn(parts.v, a) is None


def test_lazy_purge_threshold_is_fls_cpus_times_32_mib(parts):
    # lazy_max_pages = fls(num_online_cpus()) * (32 MiB / PAGE_SIZE): 2 CPUs -> 2 * 8192
    assert VM.lazy_max_pages(parts.v) == 16384
    assert VM.lazy_max_pages(Parts(cpus=4).v) == 3 * 8192
    assert VM.lazy_max_pages(Parts(cpus=1).v) == 8192
    # a 4 MiB vmalloc: the area, 1024 pages + the guard; its page array (8192 bytes >
    # PAGE_SIZE) a nested 2-page vmalloc + guard. vfree puts the area (1025 pages), then
    # the array's area (3) on the lazy list: 1028 a round, 15 rounds 15420 <= 16384
    v = parts.v
    for _ in range(15):
        VM.vfree(v, VM.vmalloc(v, 4 << 20, CALLER))
    assert v.purges == 0 and v.vmap_lazy_nr == 15 * 1028 and len(parts.info()) == 30
    # the 16th vfree of an area passes 16384 (15420 + 1025) and purges all; the
    # array's area that follows it starts the next lazy list
    VM.vfree(v, VM.vmalloc(v, 4 << 20, CALLER))
    assert v.purges == 1 and v.vmap_lazy_nr == 3
    [line] = parts.info()
    m = UNPURGED.match(line)
    assert m and int(m["size"]) == 12288
    # after the purge the lowest address is free again
    assert VM.vmalloc(v, PAGE, CALLER) == VM.VMALLOC_START


def test_no_room_purges_the_lazy_areas_first(parts):
    v = parts.v
    a = VM.vmalloc(v, PAGE, CALLER)
    VM.vfree(v, a)
    assert len(v.lazy) == 1
    # restrict the range to what the lazy area holds: only a purge makes room
    addr = VM.__vmalloc_node_range(v, PAGE, 1, VM.VMALLOC_START, VM.VMALLOC_START + 2 * PAGE,
                                   VM.GFP_KERNEL, 0, -1, CALLER)
    assert addr == VM.VMALLOC_START and v.purges == 1


def test_vmap_nodes_order_vmallocinfo(parts):
    # vmap_init_nodes: one vmap node per CPU, 16-page zones: addr_to_node_id =
    # (addr / 64 KiB) % 2. 16-page areas + guard are 0x11000 apart: nodes 0, 1, 0, 1
    addrs = [VM.vmalloc(parts.v, 16 * PAGE, f"area{i}+0x0/0x10") for i in range(4)]
    assert [a - VM.VMALLOC_START for a in addrs] == [0, 0x11000, 0x22000, 0x33000]
    callers = [line.split()[2] for line in parts.info()]
    assert callers == ["area0+0x0/0x10", "area2+0x0/0x10", "area1+0x0/0x10", "area3+0x0/0x10"]
    one = Parts(cpus=1)
    for i in range(3):
        VM.vmalloc(one.v, 16 * PAGE, f"area{i}+0x0/0x10")
    assert [line.split()[2] for line in one.info()] == ["area0+0x0/0x10", "area1+0x0/0x10", "area2+0x0/0x10"]


def test_exceeds_total_pages(parts):
    total = parts.pa.totalram_pages
    assert VM.vmalloc(parts.v, (total + 1) * PAGE, CALLER) is None
    text = parts.dmesg()
    assert f"writer: vmalloc error: size {(total + 1) * PAGE}, exceeds total pages, mode:0xcc0(GFP_KERNEL)" in text


def _hold_most_memory(parts: Parts) -> int:
    """Take most of memory, so that a vmalloc below totalram_pages cannot get
    its pages; the size of such a vmalloc."""
    held = [PA.alloc_pages(parts.pa, VM.GFP_KERNEL, 9) for _ in range(12)]
    assert all(pfn is not None for pfn in held)
    return (parts.pa.totalram_pages - 12 * 512 + 64) * PAGE


def test_failed_to_allocate_pages_gives_everything_back(parts):
    want = _hold_most_memory(parts)
    # __GFP_RETRY_MAYFAIL: the page allocator fails without the OOM killer
    assert VM.__vmalloc(parts.v, want, VM.GFP_KERNEL | 0x4000, CALLER) is None
    text = parts.dmesg()
    # warn_alloc with the mask __vmalloc_area_node made: | __GFP_HIGHMEM (no DMA/DMA32 asked)
    m = re.search(r"writer: vmalloc error: size (\d+), failed to allocate pages,"
                  r" mode:0x4cc2\(GFP_KERNEL\|__GFP_HIGHMEM\|__GFP_RETRY_MAYFAIL\)", text)
    assert m, text[-2000:]
    assert int(m[1]) % PAGE == 0 and int(m[1]) < want
    assert "Out of memory" not in text
    assert VM.get_vmalloc_info(parts.v)[1] == 0
    assert VM.vmalloc_check(parts.v) == []


def test_a_task_the_oom_killer_chose_gets_no_vmalloc_error(parts):
    # GFP_KERNEL pages: the OOM killer picks the writer; with its fatal signal pending
    # vm_area_alloc_pages stops and __vmalloc_area_node prints no "failed to allocate pages"
    want = _hold_most_memory(parts)
    assert VM.vmalloc(parts.v, want, CALLER) is None
    text = parts.dmesg()
    assert "Killed process 100 (writer)" in text
    assert "failed to allocate pages" not in text
    assert VM.get_vmalloc_info(parts.v)[1] == 0 and VM.vmalloc_check(parts.v) == []


def test_vfree_of_a_bad_or_unknown_address_warns(parts):
    a = VM.vmalloc(parts.v, 2 * PAGE, CALLER)
    VM.vfree(parts.v, None)
    VM.vfree(parts.v, 0)
    assert "WARNING" not in parts.dmesg()
    VM.vfree(parts.v, a + 1)
    text = parts.dmesg()
    # remove_vm_area's WARN, then vfree's: both print the hashed pointer
    assert re.search(r"Trying to vfree\(\) bad address \(00000000[0-9a-f]{8}\)", text)
    assert re.search(r"Trying to vfree\(\) nonexistent vm area \(00000000[0-9a-f]{8}\)", text)
    assert "at mm/vmalloc.c:3291 remove_vm_area" in text and "at mm/vmalloc.c:3426 vfree" in text
    assert text.count("---[ end trace 0000000000000000 ]---") == 2
    VM.vfree(parts.v, a + PAGE)      # inside the area, not its start: nonexistent
    assert parts.dmesg().count("nonexistent vm area") == 2
    VM.vfree(parts.v, a)
    assert VM.vmalloc_check(parts.v) == []


def test_read_write_through_the_page_table_and_the_guard_page(parts):
    a = VM.vmalloc(parts.v, 2 * PAGE, CALLER)
    data = bytes(range(256)) * 20              # 5120 bytes: crosses the page boundary
    assert VM.vmalloc_write(parts.v, a + 3000, data) == len(data)
    assert bytes(VM.vmalloc_read(parts.v, a + 3000, len(data))) == data
    p0, p1 = VM.vmalloc_to_pfn(parts.v, a), VM.vmalloc_to_pfn(parts.v, a + PAGE)
    assert p0 is not None and p1 is not None
    assert bytes(parts.mem.view[(p1 << 12):(p1 << 12) + 10]) == data[PAGE - 3000:PAGE - 3000 + 10]
    # the guard page is not mapped: a write running into it stops with the oops
    assert VM.vmalloc_to_pfn(parts.v, a + 2 * PAGE) is None
    assert VM.vmalloc_write(parts.v, a + 2 * PAGE - 8, b"x" * 16) == 8
    text = parts.dmesg()
    assert f"BUG: unable to handle page fault for address: {a + 2 * PAGE:016x}" in text
    assert "#PF: supervisor write access in kernel mode" in text
    assert "#PF: error_code(0x0002) - not-present page" in text
    assert VM.vmalloc_zero(parts.v, a, 2 * PAGE) == 2 * PAGE
    assert bytes(VM.vmalloc_read(parts.v, a, 2 * PAGE)) == bytes(2 * PAGE)


def test_vzalloc_is_zeroed_and_vmalloc_32_stays_below_4g():
    p = Parts(mem=4200 << 20)   # RAM above 4 GiB: a Normal zone exists
    a = VM.vmalloc(p.v, 3 * PAGE, CALLER)
    VM.vmalloc_write(p.v, a, b"\xff" * 3 * PAGE)
    VM.vfree(p.v, a)
    z = VM.vzalloc(p.v, 3 * PAGE, CALLER)
    assert bytes(VM.vmalloc_read(p.v, z, 3 * PAGE)) == bytes(3 * PAGE)
    b = VM.vmalloc_32(p.v, 64 * PAGE, CALLER)
    vm = VM.find_vm_area(p.v, b)
    assert vm is not None and all(pfn < (4 << 30) >> 12 for pfn in vm.pages)


def test_bookkeeping_comes_from_slub(parts):
    vmap_area = SL.find_cache(parts.sl, "vmap_area")
    assert vmap_area is not None and vmap_area.object_size == 72
    k96 = SL.kmalloc_slab(parts.sl, 96, VM.GFP_KERNEL)
    before = (len(vmap_area.live), len(k96.live))
    a = VM.vmalloc(parts.v, PAGE, CALLER)
    vm = VM.find_vm_area(parts.v, a)
    assert vm is not None and SL.ksize(parts.sl, vm.struct_addr) == 96     # vm_struct: 72 bytes
    assert SL.ksize(parts.sl, vm.pages_addr) == 8                          # one page pointer
    assert (len(vmap_area.live), len(k96.live)) == (before[0] + 1, before[1] + 1)
    VM.vfree(parts.v, a)
    # the vm_struct goes at vfree, the vmap_area only at the purge
    assert (len(vmap_area.live), len(k96.live)) == (before[0] + 1, before[1])
    # the drain keeps a small area allocated for a vmap node in that node's pool
    VM.purge_vmap_area_lazy(parts.v)
    assert len(vmap_area.live) == before[0] + 1
    # the full purge (no room) gives it back: merged with the free block above, freed
    VM.reclaim_and_purge_vmap_areas(parts.v)
    assert len(vmap_area.live) == before[0]


def test_vmap_node_pools_reuse_a_cpus_purged_areas(parts):
    v = parts.v
    a = VM.vmalloc(v, PAGE, CALLER)              # pid 100: CPU 0, vmap node 0
    VM.vfree(v, a)
    VM.purge_vmap_area_lazy(v)                   # into node 0's pool of 2-page areas
    set_current(parts.sched, 101, "other")       # CPU 1: node 1's pool is empty
    b = VM.vmalloc(v, PAGE, CALLER)
    assert b != a
    set_current(parts.sched, 100, "writer")
    c = VM.vmalloc(v, PAGE, CALLER)              # CPU 0 again: the pooled area
    assert c == a
    assert VM.vmalloc_check(v) == []


def test_pool_decay_is_a_quarter_or_all(parts):
    v = parts.v
    addrs = [VM.vmalloc(v, PAGE, CALLER) for _ in range(7)]
    for a in addrs:
        VM.vfree(v, a)
    VM.purge_vmap_area_lazy(v)
    assert len(v.pools[0][1]) == 7               # 2-page areas: pool index 1
    VM.purge_vmap_area_lazy(v)                   # decay 7 >> 2 = 1
    assert len(v.pools[0][1]) == 6
    VM.purge_vmap_area_lazy(v)                   # 6 >> 2 = 1
    VM.purge_vmap_area_lazy(v)                   # 5 >> 2 = 1
    assert len(v.pools[0][1]) == 4
    VM.purge_vmap_area_lazy(v)                   # 4 >> 2 = 1
    VM.purge_vmap_area_lazy(v)                   # 3 >> 2 = 0: `if (!--n_decay)` never breaks: all
    assert v.pools[0][1] == []
    assert VM.vmalloc(v, PAGE, CALLER) == VM.VMALLOC_START


def test_lazy_areas_are_listed_by_the_node_they_were_allocated_for(parts):
    set_current(parts.sched, 101, "other")       # CPU 1
    b = VM.vmalloc(parts.v, PAGE, "b+0x0/0x1")
    set_current(parts.sched, 100, "writer")      # CPU 0
    a = VM.vmalloc(parts.v, PAGE, "a+0x0/0x1")
    assert b < a and VM.addr_to_node_id(parts.v, a) == VM.addr_to_node_id(parts.v, b) == 0
    VM.vfree(parts.v, b)
    VM.vfree(parts.v, a)
    ends = [line.split()[0].split("-")[0] for line in VM.vmalloc_info_show(parts.v, KEY).splitlines()]
    # node 0's lazy list (a, from CPU 0) before node 1's (b, from CPU 1)
    assert ends == ["0x" + VM.ptr_to_id(a, KEY), "0x" + VM.ptr_to_id(b, KEY)]


def test_page_tables_are_allocated_once_and_kept(parts):
    a = VM.vmalloc(parts.v, PAGE, CALLER)
    tables = (dict(parts.v.vm_pmd_pages), dict(parts.v.vm_pte_pages))
    assert len(tables[0]) == 1 and len(tables[1]) == 1
    VM.vfree(parts.v, a)
    VM.vmalloc(parts.v, PAGE, CALLER)
    assert (parts.v.vm_pmd_pages, parts.v.vm_pte_pages) == tables
    assert VM.vmalloc_check(parts.v) == []


def test_zero_size_warns_once(parts):
    assert VM.vmalloc(parts.v, 0, CALLER) is None
    assert VM.vmalloc(parts.v, 0, CALLER) is None
    assert parts.dmesg().count("at mm/vmalloc.c:3838 __vmalloc_node_range_noprof") == 1


def test_random_vmalloc_vfree_keeps_the_books():
    import random
    rng = random.Random(618)
    p = Parts(mem=64 << 20)
    v = p.v
    vmap_area = SL.find_cache(p.sl, "vmap_area")
    assert vmap_area is not None
    live: list[int] = []
    for step in range(400):
        set_current(p.sched, rng.choice((100, 101)), "writer")
        if live and rng.random() < 0.45:
            VM.vfree(v, live.pop(rng.randrange(len(live))))
        else:
            a = VM.vmalloc(v, rng.choice((1, 2, 3, 16, 300, 520)) * PAGE - rng.randrange(PAGE), CALLER)
            if a is not None:          # or out of memory: everything it took given back
                live.append(a)
        if step % 25 == 0:
            assert VM.vmalloc_check(v) == []
    assert VM.vmalloc_check(v) == []
    for a in live:
        VM.vfree(v, a)
    VM.reclaim_and_purge_vmap_areas(v)
    # everything back: one free block (one vmap_area object), no page mapped
    assert VM.vmalloc_check(v) == []
    assert v.areas == [] and len(vmap_area.live) == 1 and v.nr_vmalloc_pages == 0


def test_kvmalloc_adjusts_the_mask_as_the_live_trace_shows(parts):
    # tests/data/linux-6.18/kmalloc-large-trace.txt: kvmalloc(20000, GFP_USER) from
    # vmemdup_user reaches kmalloc with GFP_NOWAIT|__GFP_IO|__GFP_FS|__GFP_HARDWALL
    from allocator.linux618.trace_format import show_gfp_flags
    live = (DATA.parent / "kmalloc-large-trace.txt").read_text()
    want = re.search(r"bytes_req=20000 bytes_alloc=32768 gfp_flags=(\S+)", live)
    assert want
    seen: list[tuple[str, int, int | None]] = []
    parts.sl.slow = parts.pa.slow = True
    parts.pa.trace.hook = lambda event, cachep, objp, flags, size: seen.append((event, flags, size))
    GFP_USER = 0x100CC0
    a = VM.kvmalloc(parts.v, 20000, GFP_USER, CALLER)
    kmallocs = [(f, s) for e, f, s in seen if e == "kmalloc"]
    assert kmallocs and all(s == 20000 and show_gfp_flags(f) == want[1] for f, s in kmallocs)
    assert a is not None and not VM.is_vmalloc_addr(parts.v, a)
    VM.kvfree(parts.v, a)
    # a page or less: the mask unchanged
    seen.clear()
    VM.kvfree(parts.v, VM.kvmalloc(parts.v, 100, GFP_USER, CALLER))
    assert [f for e, f, _ in seen if e == "kmalloc"] == [GFP_USER]


def test_kvmalloc_falls_back_to_vmalloc_and_kvfree_tells_them_apart(parts):
    # 8 MiB is above KMALLOC_MAX_SIZE (4 MiB): kmalloc fails quietly (__GFP_NOWARN), vmalloc serves
    a = VM.kvmalloc(parts.v, 8 << 20, VM.GFP_KERNEL, CALLER)
    assert a is not None and VM.is_vmalloc_addr(parts.v, a)
    assert "page allocation failure" not in parts.dmesg()
    # 2048 pages, and the 16 KiB page array's own 4-page vmalloc
    assert VM.get_vmalloc_info(parts.v)[1] == (2048 + 4) * 4
    VM.kvfree(parts.v, a)
    assert VM.get_vmalloc_info(parts.v)[1] == 0
    # GFP_ATOMIC may not sleep: no vmalloc fallback
    assert VM.kvmalloc(parts.v, 8 << 20, 0x820, CALLER) is None
    z = VM.kvzalloc(parts.v, 3 * PAGE, VM.GFP_KERNEL, CALLER)
    assert z is not None and bytes(parts.mem.view[z:z + 3 * PAGE]) == bytes(3 * PAGE)
    VM.kvfree(parts.v, z)


@pytest.mark.parametrize("cpus", [1, 2, 4, 8])
def test_the_kernels_cpu_count_reaches_vmalloc(cpus):
    """Kernel(version="6.18", cpus=N) (the mount's --cpus N): vmap_init_nodes makes one
    vmap node per possible CPU, and lazy_max_pages is fls(num_online_cpus()) * 32 MiB."""
    from allocator.kernel import Kernel
    k = Kernel(version="6.18", mem=256 << 20, cpus=cpus)
    try:
        v = k.vmalloc_area
        assert v.nr_vmap_nodes == cpus
        assert VM.lazy_max_pages(v) == {1: 1, 2: 2, 4: 3, 8: 4}[cpus] * (32 << 20) // 4096
    finally:
        k.close()
