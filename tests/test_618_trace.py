"""Linux 6.18's kmem trace events: format files, bodies, gfp and pointer
printing, against captures of a real 6.18 x86_64 kernel (tests/data/linux-6.18:
kmem-<event>.format, trace/available_events, trace/trace-sample)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from allocator.linux618 import trace_format as T
from allocator.trace import TRACE_HEADER, Tracer

DATA = Path(__file__).resolve().parent / "data" / "linux-6.18"
SAMPLE = (DATA / "trace" / "trace-sample").read_text().splitlines()
# trace_print_context, as the sample shows it
LINE = re.compile(r"^ *(?P<comm>.+?)-(?P<pid>\d+) +\[(?P<cpu>\d{3})\] (?P<flags>\S{5}) +"
                  r"(?P<secs>\d+)\.(?P<usecs>\d{6}): (?P<event>\w+): (?P<body>.*)$")


def _sample(event: str) -> list[str]:
    return [m["body"] for m in map(LINE.match, SAMPLE[12:]) if m and m["event"] == event]


def _fields(body: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in body.split(" ") if "=" in kv)


@pytest.mark.parametrize("event", T.KMEM_EVENTS_618)
def test_format_file_is_the_captured_one(event):
    assert T.format_file(event) == (DATA / f"kmem-{event}.format").read_text()


def test_events_are_listed_as_available_events_lists_them():
    captured = (DATA / "trace" / "available_events").read_text().split()
    assert [f"kmem:{e}" for e in T.KMEM_EVENTS_618] == captured
    assert T.Kmem618Format.events == T.KMEM_EVENTS_618


def test_trace_header_is_the_captured_one():
    assert "".join(line + "\n" for line in SAMPLE[4:12]) == T.TRACE_HEADER_618
    # 2.6.18's mount keeps its own (5.15's) header
    assert TRACE_HEADER != T.TRACE_HEADER_618


@pytest.mark.parametrize(("flags", "text"), [
    (0, "none"),
    (0xcc0, "GFP_KERNEL"),
    (0xdc0, "GFP_KERNEL|__GFP_ZERO"),                           # sample: kmalloc in alloc_bprm
    (0x400dc0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO"),                # sample: lsm_blob_alloc
    (0x440dc0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP"),     # sample: mm_page_alloc
    (0x2820, "GFP_ATOMIC|__GFP_NOWARN"),                        # reference §2
    (0x820, "GFP_ATOMIC"),
    (0x2800, "GFP_NOWAIT"),
    (0x1c24ca, "GFP_TRANSHUGE"),
    (0x1c20ca, "GFP_TRANSHUGE_LIGHT"),
    (0x100cca, "GFP_HIGHUSER_MOVABLE"),
    (0xc00, "GFP_NOIO"),
    (0x400, "__GFP_DIRECT_RECLAIM"),
    (0x200, "0x200"),                                           # ___GFP_UNUSED: no name
    (0xcc0 | 0x200, "GFP_KERNEL|0x200"),
    (0x1000000, "__GFP_NO_OBJ_EXT"),
])
def test_gfp_flags_print_as_the_trace_table_does(flags, text):
    assert T.show_gfp_flags(flags) == text


def test_gfp_table_values_are_those_of_the_format_file():
    # every {( unsigned long)EXPR, "NAME"} of the captured print fmt, evaluated
    fmt = (DATA / "kmem-kmalloc.format").read_text()
    entries = re.findall(r'\{\( unsigned long\)(.*?), "(\w+)"\}', fmt)
    assert len(entries) == 38
    values = {}
    for expr, name in entries:
        py = expr.replace("( gfp_t)", "").replace("1UL", "1")
        values[name] = eval(py, {})  # noqa: S307  (arithmetic on integer literals only)
    assert dict(T.GFP_FLAG_NAMES) == values
    assert [n for n, _ in T.GFP_FLAG_NAMES] == [n for _, n in entries]


def test_pointers_print_hashed_as_6x_does():
    # the sample: kfree(NULL) prints sixteen zeros, other pointers 00000000 + 8 hex digits
    nulls = [b for b in _sample("kfree") if _fields(b)["ptr"] == "0" * 16]
    assert nulls
    for body in _sample("kmalloc") + _sample("kmem_cache_alloc"):
        assert re.fullmatch(r"00000000[0-9a-f]{8}", _fields(body)["ptr"])
    assert T.ptr_to_id(0) == "0" * 16
    a = T.ptr_to_id(0xffff888100a3c000)
    assert re.fullmatch(r"00000000[0-9a-f]{8}", a)
    assert T.ptr_to_id(0xffff888100a3c000) == a
    assert T.ptr_to_id(0xffff888100a3c040) != a
    assert T.ptr_to_id(0xffff888100a3c000, key=b"k" * 16) != a  # a new boot, a new key


@dataclass
class Cache:
    name: str
    object_size: int
    size: int
    flags: int = 0


def test_kmem_cache_alloc_body_matches_the_sample():
    # sample: name=filp bytes_req=184 bytes_alloc=192 gfp_flags=GFP_KERNEL node=-1 accounted=true
    sample = next(b for b in _sample("kmem_cache_alloc") if "name=filp" in b)
    filp = Cache("filp", 184, 192, T.SLAB_ACCOUNT)   # files_init: SLAB_ACCOUNT
    body = T.kmem_cache_alloc_body("alloc_empty_file+0x3c/0x110", 0xffff888101234500, filp, 0xcc0)
    got, want = _fields(body), _fields(sample)
    assert list(got) == list(want)
    assert {k: v for k, v in got.items() if k != "ptr"} == {k: v for k, v in want.items() if k != "ptr"}
    # names_cache (no SLAB_ACCOUNT, GFP_KERNEL): accounted=false
    names = Cache("names_cache", 4096, 4096)
    assert _fields(T.kmem_cache_alloc_body("x", 1, names, 0xcc0))["accounted"] == "false"
    # __GFP_ACCOUNT alone makes it accounted
    assert _fields(T.kmem_cache_alloc_body("x", 1, names, 0x400cc0))["accounted"] == "true"


def test_kmalloc_body_matches_the_sample():
    sample = next(b for b in _sample("kmalloc") if "lsm_blob_alloc" in b)
    body = T.kmalloc_body("lsm_blob_alloc+0x3b/0x60", 0xffff888100000010, 11, 16, 0x400dc0)
    got, want = _fields(body), _fields(sample)
    assert list(got) == list(want)
    assert {k: v for k, v in got.items() if k != "ptr"} == {k: v for k, v in want.items() if k != "ptr"}


def test_large_kmalloc_reports_the_pages_it_took():
    # mm/slub.c ___kmalloc_large_node: bytes_alloc = PAGE_SIZE << get_order(size)
    fmt = T.Kmem618Format(key=b"0" * 16)
    body = fmt.body("kmalloc", "f+0x0/0x10", None, 0xffff888100000000, 0xcc0, 8193)
    assert _fields(body)["bytes_req"] == "8193"
    assert _fields(body)["bytes_alloc"] == "16384"   # get_order(8193) = 2
    body = fmt.body("kmalloc", "f+0x0/0x10", None, 0xffff888100000000, 0xcc0, 16384)
    assert _fields(body)["bytes_alloc"] == "16384"


def test_page_events_match_the_sample():
    sample = _sample("mm_page_alloc")[0]
    want = _fields(sample)
    pfn = int(want["pfn"], 16)
    got = _fields(T.mm_page_alloc_body(pfn, 0, 0x440dc0, 0))
    assert list(got) == list(want)
    assert {k: v for k, v in got.items() if k != "page"} == {k: v for k, v in want.items() if k != "page"}
    # the page pointer is struct page in the vmemmap, hashed: the same for alloc and free
    free = _fields(T.mm_page_free_body(pfn, 0))
    assert free["page"] == got["page"] and list(free) == list(_fields(_sample("mm_page_free")[0]))
    # a failed attempt: page NULL, pfn 0
    failed = T.mm_page_alloc_body(None, 3, 0xcc0, 0)
    assert failed == "page=0000000000000000 pfn=0x0 order=3 migratetype=0 gfp_flags=GFP_KERNEL"


def test_hook_arguments_give_the_kernel_values():
    fmt = T.Kmem618Format(key=b"1" * 16)
    # mm_page_alloc: migratetype from the gfp (gfp_migratetype), -1 pfn = failure
    movable = fmt.body("mm_page_alloc", "", None, 0x1234, 0x100cca, 0)
    assert "migratetype=1 " in movable
    assert "migratetype=2 " in fmt.body("mm_page_alloc", "", None, 0x1234, 0xcd0, 0)
    assert fmt.body("mm_page_alloc", "", None, -1, 0xcc0, 2).startswith("page=0000000000000000 pfn=0x0 order=2")
    # mm_page_alloc_zone_locked: percpu_refill = pcp_allowed_order(order) && mt < MIGRATE_PCPTYPES
    assert fmt.body("mm_page_alloc_zone_locked", "", None, 5, 1, 3).endswith("percpu_refill=1")
    assert fmt.body("mm_page_alloc_zone_locked", "", None, 5, 1, 4).endswith("percpu_refill=0")
    assert fmt.body("mm_page_alloc_zone_locked", "", None, 5, 0, 9).endswith("percpu_refill=1")
    assert fmt.body("mm_page_alloc_zone_locked", "", None, 5, 3, 0).endswith("percpu_refill=0")
    assert fmt.body("mm_page_pcpu_drain", "", None, 0x10, 2, 1).endswith("pfn=0x10 order=1 migratetype=2")
    assert fmt.body("mm_page_free_batched", "", None, 0x10, 0, None).endswith("pfn=0x10 order=0")
    # extfrag as allocator/linux618/page_alloc.py's hook packs it
    body = fmt.body("mm_page_alloc_extfrag", "", None, 0x200, (1 << 16) | (1 << 8) | 0, (0 << 8) | 9)
    assert body.endswith("alloc_order=0 fallback_order=9 pageblock_order=9 alloc_migratetype=1"
                         " fallback_migratetype=0 fragmenting=0 change_ownership=1")
    assert fmt.body("rss_stat", "", None, 0, 0, 0) is None


def test_extfrag_and_watermark_bodies():
    body = T.mm_page_alloc_extfrag_body(0x100, 0, 3, 1, 0, False)
    # pageblock_order = min(21 - 12, 10) = 9; fragmenting = fallback_order < 9
    assert body.endswith("alloc_order=0 fallback_order=3 pageblock_order=9 alloc_migratetype=1"
                         " fallback_migratetype=0 fragmenting=1 change_ownership=0")
    assert T.mm_setup_per_zone_wmarks_body(0, "DMA32", (100, 200, 300, 400)) == (
        "node_id=0 zone name=DMA32 watermark min=100 low=200 high=300 promo=400")
    assert T.mm_setup_per_zone_lowmem_reserve_body(0, "DMA", "Normal", 3018) == (
        "node_id=0 zone name=DMA upper_zone name=Normal lowmem_reserve_pages=3018")
    assert T.mm_calculate_totalreserve_pages_body(42) == "totalreserve_pages=42"


def test_a_tracer_with_the_618_formats(kernel):
    """The Tracer seam: events, header and bodies come from the format; the
    2.6.18 Tracer is untouched (tests/test_trace.py)."""
    k = kernel(mem=16 << 20)
    k.set_current(77, "writer")
    tracer = Tracer(k, T.Kmem618Format(key=b"2" * 16))
    assert tracer.events == T.KMEM_EVENTS_618
    with pytest.raises(KeyError):
        tracer.set_enabled("kmem_cache_alloc_node", True)   # gone in 6.x
    tracer.set_enabled("mm_page_alloc", True)
    tracer.set_enabled("kfree", True)
    assert tracer.all_state() == "X"
    pfn = k.alloc_pages(0xd0, 0)      # this kernel is 2.6.18: its GFP_KERNEL
    k.kfree(None)
    text = tracer.trace()
    assert T.TRACE_HEADER_618 in text
    lines = text.splitlines()[12:]
    m = LINE.match(lines[0])
    assert m and m["event"] == "mm_page_alloc" and (m["comm"], m["pid"]) == ("writer", "77")
    assert m["body"] == T.mm_page_alloc_body(pfn, 0, 0xd0, T.gfp_migratetype(0xd0), key=b"2" * 16)
    k.free_pages_pfn(pfn, 0)
    tracer.set_all(True)
    assert tracer.all_state() == "1"
    tracer.set_all(False)
    assert k.trace_hook is None
    # the ring holds buffer_size_kb of 60-byte events (x86_64 kmalloc: 4 + 56)
    assert tracer.rings[0].maxlen == 1408 * 1024 // 60
    assert Tracer(k).rings[0].maxlen == 1408 * 1024 // 32      # 2.6.18's mount: unchanged


def test_large_kmalloc_body_matches_the_live_trace():
    # tests/data/linux-6.18/kmalloc-large-trace.txt: kmalloc(20000) above 8 KiB
    live = (DATA / "kmalloc-large-trace.txt").read_text().splitlines()
    want = _fields(LINE.match(live[1])["body"])
    fmt = T.Kmem618Format(key=b"3" * 16)
    got = _fields(fmt.body("kmalloc", want["call_site"], None, 0xffff888104a00000, 0x1028c0, 20000))
    assert list(got) == list(want)
    assert {k: v for k, v in got.items() if k != "ptr"} == {k: v for k, v in want.items() if k != "ptr"}


class _Kernel:
    """What a Tracer reads of a Kernel, over the real 6.18 page allocator and SLUB."""

    def __init__(self) -> None:
        from allocator.arch.x86_64 import X86_64
        from allocator.fault_inject import FaultInject
        from allocator.linux618 import page_alloc as PA
        from allocator.linux618 import slub as SL
        from allocator.physmem import PhysMem
        from allocator.printk import KernelLog
        from allocator.sched import Sched, set_current
        from allocator.trace import KmemTrace
        from allocator.vmscan import Vmscan
        from allocator.vmstat import VmStat
        self.log = KernelLog(clock=lambda: 1.5)
        self.sched = Sched(2, self.log.uptime)
        vm = VmStat()
        faults = FaultInject(self.log)
        self.trace = KmemTrace()
        self.pa = PA.PageAllocator(X86_64, PhysMem(64 << 20), self.log, self.sched, vm, faults, self.trace,
                                   Vmscan(vm), 1)
        self.sl = SL.SlabAllocator(X86_64, self.pa, self.log, self.sched, vm, faults, self.trace, Vmscan(vm), "")
        SL.kmem_cache_init(self.sl)
        self.cpus = 2
        set_current(self.sched, 4242, "writer")

    @property
    def current(self):  # noqa: ANN201
        return self.sched.current

    def update_fault_injection(self) -> None:
        self.sl.slow = self.pa.slow = self.trace.hook is not None


def test_slub_and_the_page_allocator_through_the_618_tracer():
    from allocator.linux618 import page_alloc as PA
    from allocator.linux618 import slub as SL
    k = _Kernel()
    key = b"4" * 16
    tracer = Tracer(k, T.Kmem618Format(key=key))  # type: ignore[arg-type]
    tracer.set_all(True)
    cache = SL.kmem_cache_create(k.sl, "demo618", 1000, 0, 0)

    def driver_alloc():  # the call site the walk up the stack finds
        return SL.kmem_cache_alloc(k.sl, cache, 0xcc0)

    objp = driver_alloc()
    p = SL.kmalloc(k.sl, 100, 0xdc0)
    SL.kfree(k.sl, p)
    SL.kmem_cache_free(k.sl, cache, objp)
    pfn = PA.alloc_pages(k.pa, 0xcc0, 2)
    PA.__free_pages(k.pa, pfn, 2)
    events = [(m["event"], _fields(m["body"])) for m in map(LINE.match, tracer.trace().splitlines()[12:])
              if m]
    names = [e for e, _ in events]
    alloc = next(f for e, f in events if e == "kmem_cache_alloc" and f["name"] == "demo618")
    assert alloc["call_site"].startswith("driver_alloc+0x")
    assert (alloc["bytes_req"], alloc["bytes_alloc"], alloc["gfp_flags"], alloc["node"], alloc["accounted"]) == (
        "1000", str(cache.size), "GFP_KERNEL", "-1", "false")
    km = next(f for e, f in events if e == "kmalloc" and f["bytes_req"] == "100")
    assert (km["bytes_req"], km["bytes_alloc"], km["gfp_flags"]) == ("100", "128", "GFP_KERNEL|__GFP_ZERO")
    assert km["call_site"].startswith("test_slub_and_the_page_allocator_through_the_618_tracer+0x")
    assert next(f for e, f in events if e == "kfree")["ptr"] == km["ptr"]
    assert next(f for e, f in events if e == "kmem_cache_free")["name"] == "demo618"
    page = next(f for e, f in events if e == "mm_page_alloc" and f["pfn"] == f"0x{pfn:x}")
    assert (page["order"], page["migratetype"], page["gfp_flags"]) == ("2", "0", "GFP_KERNEL")
    # free_pages_prepare traces every free, to the pcp lists too
    assert any(e == "mm_page_free" and f["pfn"] == f"0x{pfn:x}" and f["order"] == "2" for e, f in events)
    assert page["page"] == next(f for e, f in events if e == "mm_page_free" and f["pfn"] == f"0x{pfn:x}")["page"]
    assert "kmem_cache_alloc_node" not in names
