"""Linux 6.18's warn_alloc, dump_stack and __show_mem (allocator/linux618/show_mem.py).

The formats are those of mm/page_alloc.c warn_alloc, lib/dump_stack.c (6.16+:
the preempt model after the version), arch/x86/kernel/dumpstack.c and
mm/show_mem.c, checked against the reference's examples and the Call Trace
form of a real 6.18 log (tests/data/linux-6.18/dmesg-call-trace); the numbers
are worked out from the allocator's state by the rules of mm/show_mem.c.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from allocator.linux618 import page_alloc, show_mem
from allocator.linux618.gfp import __GFP_NOWARN, __GFP_RETRY_MAYFAIL, GFP_ATOMIC, GFP_DMA, GFP_KERNEL
from allocator.linux618.page_alloc import PageAllocator, alloc_pages
from allocator.sched import set_current
from kernel_fixtures import FakeClock
from proc618_support import boot, capture


def logged(pa: PageAllocator, since: int = 0) -> list[str]:
    return [r.text for r in pa.log.records][since:]


def failing_task(pa: PageAllocator, pid: int = 4242, comm: str = "insmod") -> None:
    task = set_current(pa.sched, pid, comm)
    task.uid = 0


@pytest.fixture(autouse=True)
def hooked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The page allocator reports its failures through show_mem (as the kernel binds it)."""
    monkeypatch.setattr(page_alloc, "warn_alloc_hook", show_mem.warn_alloc_hook)
    yield


def fail(pa: PageAllocator, gfp_mask: int, order: int) -> bool:
    """The page allocator's `nopage:` warn_alloc; True when it printed."""
    n = len(pa.log.records)
    page_alloc.warn_alloc_failure(pa, gfp_mask, order)
    return len(pa.log.records) > n


# -- warn_alloc ----------------------------------------------------------------


def test_warn_alloc_head_line_is_the_references_example() -> None:
    pa = boot()
    failing_task(pa)
    assert fail(pa, GFP_KERNEL, 10)
    assert logged(pa)[0] == ("insmod: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL),"
                             " nodemask=(null),cpuset=/,mems_allowed=0")


def test_warn_alloc_prints_pGg_names() -> None:
    pa = boot()
    failing_task(pa, comm="kworker")
    show_mem.warn_alloc(pa, GFP_ATOMIC, None,
                        "page allocation failure: order:0")
    assert logged(pa)[0].startswith("kworker: page allocation failure: order:0,"
                                    " mode:0x820(GFP_ATOMIC), nodemask=(null),")


def test_warn_alloc_report_order() -> None:
    """The head line, dump_stack (info line, Hardware name, Call Trace in
    <TASK>...</TASK>), then __show_mem starting with Mem-Info:."""
    pa = boot()
    failing_task(pa)
    fail(pa, GFP_KERNEL, 3)
    lines = logged(pa)
    assert re.fullmatch(r"CPU: \d+ UID: 0 PID: 4242 Comm: insmod Not tainted 6\.18\.\S+ #1"
                        r" PREEMPT\(none\) ", lines[1])
    assert lines[2].startswith("Hardware name: ")
    assert lines[3:5] == ["Call Trace:", " <TASK>"]
    assert re.fullmatch(r" dump_stack_lvl\+0x[0-9a-f]+/0x[0-9a-f]+", lines[5])
    assert re.fullmatch(r" warn_alloc\+0x[0-9a-f]+/0x[0-9a-f]+", lines[6])
    end = lines.index(" </TASK>")
    assert lines[end + 1] == "Mem-Info:"
    assert lines[-3:] == [f"{sum(z.present for z in pa.zones)} pages RAM",
                          "0 pages HighMem/MovableOnly",
                          f"{sum(z.present - z.managed for z in pa.zones)} pages reserved"]


def test_warn_alloc_is_ratelimited_10s_burst_1() -> None:
    clock = FakeClock()
    pa = boot(clock=clock)
    failing_task(pa)
    assert fail(pa, GFP_KERNEL, 1)
    n = len(logged(pa))
    clock.advance(9.9)
    assert not fail(pa, GFP_KERNEL, 1)
    assert not fail(pa, GFP_KERNEL, 2)
    assert len(logged(pa)) == n
    clock.advance(0.2)                       # 10.1 s after the first: a new interval
    assert fail(pa, GFP_KERNEL, 1)
    new = logged(pa, n)
    assert new[0] == "warn_alloc: 2 callbacks suppressed"
    assert new[1].startswith("insmod: page allocation failure: order:1, mode:0xcc0(GFP_KERNEL)")


def test_warn_alloc_nowarn_and_dma_without_managed_dma() -> None:
    pa = boot()
    failing_task(pa)
    assert not fail(pa, GFP_KERNEL | __GFP_NOWARN, 0)
    assert logged(pa) == []
    pa.zones[0].managed = 0                   # has_managed_dma() false
    assert not fail(pa, GFP_DMA, 0)
    assert logged(pa) == []


# -- dump_stack ------------------------------------------------------------------


class Scull:
    """A driver: its methods print as module text (`scullc_write+... [scullc]`)."""

    def __init__(self, pa: PageAllocator) -> None:
        self.pa = pa

    def write(self) -> str:
        return show_mem.dump_stack(self.pa)


def test_dump_stack_call_trace_from_a_write() -> None:
    pa = boot()
    pa.trace.drivers[Scull] = "scullc"
    set_current(pa.sched, 77, "cat").uid = 1000
    lines = Scull(pa).write().splitlines()
    assert re.fullmatch(r"CPU: 1 UID: 1000 PID: 77 Comm: cat Not tainted \S+ #1 PREEMPT\(none\) ",
                        lines[0])
    i = lines.index("Call Trace:")
    body = lines[i + 2:lines.index(" </TASK>")]
    syms = [re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+", "", x) for x in body if not x.startswith(("R", "E"))]
    assert syms == [" dump_stack_lvl", " scullc_write [scullc]", " vfs_write", " ksys_write",
                    " do_syscall_64", " entry_SYSCALL_64_after_hwframe"]
    regs = [x for x in body if x[:1] == "R"]
    assert regs[0].startswith("RIP: 0033:0x7f")
    assert re.fullmatch(r"RSP: 002b:[0-9a-f]{16} EFLAGS: [0-9a-f]{8} ORIG_RAX: 0{15}1", regs[1])


def trace_lines() -> list[str]:
    """The captured hung-task report without the printk timestamps."""
    return [re.sub(r"^\[ *\d+\.\d+\] ", "", x) for x in capture("dmesg-call-trace").splitlines()]


def test_dump_stack_lines_have_the_captured_form() -> None:
    """Each kind of line has the form of the real 6.18 log's: the trace
    entries ` sym+0xoff/0xsize` (reliable ones: no `? `), `RIP: 0033:0x...`,
    `RSP: 002b:%016lx EFLAGS: %08lx ORIG_RAX: %016lx`, the register rows."""
    real = trace_lines()
    pa = boot()
    pa.trace.drivers[Scull] = "scullc"
    set_current(pa.sched, 77, "cat")
    ours = Scull(pa).write().splitlines()

    def form(x: str) -> str:
        x = re.sub(r"[0-9a-f]{16}", "H16", x)
        x = re.sub(r"[0-9a-f]{8}(?= ORIG)", "H8", x)
        x = re.sub(r"0x[0-9a-f]+", "0xH", x)
        x = re.sub(r"^ [\w.]+\+0xH/0xH$", " SYM", x)
        return x
    real_forms = {form(x) for x in real}
    for x in ours[ours.index("Call Trace:"):]:
        if "[scullc]" in x:
            continue                      # module text: the capture has none
        assert form(x) in real_forms, x
    assert {"Call Trace:", " <TASK>", " </TASK>"} <= set(real)


# -- __show_mem --------------------------------------------------------------------


REFERENCE_ZONE_LINE = (   # the reference's §3.7 example (live DMA values in kB)
    "Node 0 DMA free:15360kB boost:0kB min:156kB low:192kB high:228kB reserved_highatomic:0KB"
    " active_anon:0kB inactive_anon:0kB active_file:0kB inactive_file:0kB unevictable:0kB"
    " writepending:0kB present:15992kB managed:15360kB mlocked:0kB bounce:0kB free_pcp:0kB"
    " local_pcp:0kB free_cma:0kB")
REFERENCE_NODE_LINE = (
    "Node 0 active_anon:%lukB inactive_anon:%lukB active_file:%lukB inactive_file:%lukB"
    " unevictable:%lukB isolated(anon):%lukB isolated(file):%lukB mapped:%lukB dirty:%lukB"
    " writeback:%lukB shmem:%lukB shmem_thp:%lukB shmem_pmdmapped:%lukB anon_thp:%lukB"
    " writeback_tmp:%lukB kernel_stack:%lukB pagetables:%lukB sec_pagetables:%lukB"
    " all_unreclaimable? no")


def keys(line: str) -> list[str]:
    return re.findall(r"([a-z_()]+[?:])", line)


def test_show_mem_layout() -> None:
    pa = boot()
    lines = show_mem.show_mem(pa).splitlines()
    assert lines[0] == "Mem-Info:"
    assert [keys(x) for x in lines[1:9]] == [
        ["active_anon:", "inactive_anon:", "isolated_anon:"],
        ["active_file:", "inactive_file:", "isolated_file:"],
        ["unevictable:", "dirty:", "writeback:"],
        ["slab_reclaimable:", "slab_unreclaimable:"],
        ["mapped:", "shmem:", "pagetables:"],
        ["sec_pagetables:", "bounce:"],
        ["kernel_misc_reclaimable:"],
        ["free:", "free_pcp:", "free_cma:"]]
    assert all(x.startswith(" ") for x in lines[2:9])
    assert keys(lines[9]) == keys(REFERENCE_NODE_LINE)
    zone_lines = [x for x in lines if re.match(r"Node 0 \w+ free:", x)]
    assert [x.split()[2] for x in zone_lines] == ["DMA", "DMA32"]     # populated, <= Device
    assert all(keys(x) == keys(REFERENCE_ZONE_LINE) for x in zone_lines)
    for x in zone_lines:
        assert lines[lines.index(x) + 1].startswith("lowmem_reserve[]: ")
        assert len(lines[lines.index(x) + 1].split()) == 1 + 5           # MAX_NR_ZONES
    assert lines[-7:-3] == ["0 total pagecache pages", "0 pages in swap cache", "Free swap  = 0kB",
                            "Total swap = 0kB"]
    huge = [x for x in lines if "hugepages_total" in x]
    assert huge == ["Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=1048576kB",
                    "Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=2048kB"]


def test_show_mem_zone_values_from_the_state() -> None:
    pa = boot()
    lines = show_mem.show_mem(pa).splitlines()
    dma = pa.zones[0]
    line = next(x for x in lines if x.startswith("Node 0 DMA free:"))
    v = dict(re.findall(r"(\w+):(\d+)[kK]B", line))
    assert int(v["free"]) == dma.free_pages * 4
    assert int(v["min"]) == (dma.watermark[0] + dma.watermark_boost) * 4
    assert int(v["high"]) == (dma.watermark[2] + dma.watermark_boost) * 4
    assert int(v["present"]) == dma.present * 4 == 15992       # the reference's DMA
    assert int(v["managed"]) == dma.managed * 4 == 15360
    assert lines[lines.index(line) + 1] == "lowmem_reserve[]: " + " ".join(map(str, dma.lowmem_reserve))
    free = sum(z.free_pages for z in pa.zones)
    assert re.fullmatch(rf" free:{free} free_pcp:\d+ free_cma:0", lines[8])


def test_show_mem_free_areas_and_migrate_letters() -> None:
    """`%lu*%lukB ` per order, then `(letters) ` of the migrate types whose free
    list at that order is not empty, only when the count is not 0; `= %lukB`."""
    pa = boot()
    for order in (0, 1, 3, 5):
        assert alloc_pages(pa, GFP_KERNEL, order) is not None
    lines = show_mem.show_mem(pa).splitlines()
    for z in (z for z in pa.zones if z.present):
        line = next(x for x in lines if x.startswith(f"Node 0 {z.name}: "))
        expect = f"Node 0 {z.name}: "
        for o in range(11):
            area = z.free_area[o]
            expect += f"{area.nr_free}*{4 << o}kB "
            if area.nr_free:
                expect += "(" + "".join("UMEHI"[mt] for mt in range(5) if len(area.free_list[mt])) + ") "
        total = sum(z.free_area[o].nr_free << o for o in range(11))
        assert line == expect + f"= {total * 4}kB"
    dma = next(x for x in lines if x.startswith("Node 0 DMA: "))
    # the boot DMA zone as the reference shows its shape: 1*1024kB 1*2048kB 3*4096kB, all free
    assert dma.endswith("1*1024kB (M) 1*2048kB (M) 3*4096kB (M) = 15360kB")


def test_show_mem_max_zone_idx_limits_the_zones() -> None:
    """warn_alloc shows the zones up to gfp_zone(gfp): GFP_DMA only DMA."""
    pa = boot()
    lines = show_mem.__show_mem(pa, 0, None, 0)
    assert [x.split()[2] for x in lines if re.match(r"Node 0 \w+ free:", x)] == ["DMA"]
    assert [x.split(":")[0] for x in lines if re.match(r"Node 0 \w+: \d", x)] == ["Node 0 DMA"]


def test_a_real_failure_reports_the_slow_path() -> None:
    """An order-10 GFP_KERNEL request on 64 MiB once the order-10 blocks are
    gone: __alloc_pages_slowpath gives up (a costly order) and warn_alloc
    shows the path the allocation took, innermost first."""
    pa = boot()
    failing_task(pa, comm="stress")
    while alloc_pages(pa, GFP_KERNEL | __GFP_NOWARN, 10) is not None:
        pass
    n = len(logged(pa))
    assert alloc_pages(pa, GFP_KERNEL, 10) is None
    lines = logged(pa, n)
    assert lines[0].startswith("stress: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL),")
    body = lines[lines.index(" <TASK>") + 1:lines.index(" </TASK>")]
    syms = [re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+$", "", x).strip() for x in body]
    assert syms == ["dump_stack_lvl", "warn_alloc", "__alloc_pages_slowpath.constprop.0",
                    "__alloc_frozen_pages_noprof", "alloc_pages_mpol", "alloc_pages_noprof"]
    assert "Mem-Info:" in lines


def test_warn_alloc_callers_share_one_ratelimit() -> None:
    """nopage_rs is one static state: a vmalloc failure right after a page
    allocation failure is suppressed."""
    pa = boot()
    failing_task(pa)
    assert fail(pa, GFP_KERNEL, 0)
    assert not show_mem.warn_alloc(pa, GFP_KERNEL, None, "vmalloc error: size 8192, vm_struct allocation failed")


def test_a_slab_page_failure_shows_the_slub_path() -> None:
    """kmalloc(4000, GFP_KERNEL | __GFP_RETRY_MAYFAIL) once memory is gone
    (RETRY_MAYFAIL: no OOM kill): the order-0 fallback of allocate_slab
    fails, and the trace has SLUB's 6.18 functions above the page allocator's."""
    from allocator.linux618 import slub
    pa = boot()
    sl = slub.SlabAllocator(pa.arch, pa, pa.log, pa.sched, pa.vmstat, pa.faults, pa.trace, pa.vmscan)
    slub.kmem_cache_init(sl)
    failing_task(pa, comm="writer")
    n = len(logged(pa))
    while slub.kmalloc(sl, 4000, GFP_KERNEL | __GFP_RETRY_MAYFAIL) is not None:
        pass
    lines = logged(pa, n)
    head = next(i for i, x in enumerate(lines) if "page allocation failure" in x)
    body = lines[lines.index(" <TASK>", head) + 1:lines.index(" </TASK>", head)]
    syms = [re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+$", "", x).strip() for x in body]
    assert syms[-5:] == ["alloc_pages_noprof", "allocate_slab", "___slab_alloc", "__slab_alloc.isra.0",
                         "__kmalloc_noprof"]
