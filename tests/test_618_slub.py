"""SLUB of Linux 6.18 (allocator/linux618/slub.py) against mm/slub.c and
mm/slab_common.c of 6.12.117 and against captures of this machine's real
6.18 kernel (tests/data/linux-6.18/: kmalloc-geometry.txt, boot-caches-geometry.txt,
slabinfo-boot-order.txt, each with the command that made it beside it).

Expected numbers come from those captures or are worked out in the comments
from the source's rules, never from the simulator's own helpers."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator._pure import twin
from allocator.arch.x86_64 import X86_64
from allocator.fault_inject import FaultInject
from allocator.linux618 import page_alloc as PA
from allocator.linux618 import slub as S
from allocator.physmem import PhysMem
from allocator.printk import KernelLog
from allocator.sched import Sched, set_current
from allocator.trace import KmemTrace
from allocator.vmscan import Vmscan
from allocator.vmstat import VmStat

DATA = Path(__file__).parent / "data" / "linux-6.18"
GFP_KERNEL = 0xCC0                  # include/linux/gfp_types.h (6.18): RECLAIM|IO|FS
GFP_ATOMIC = 0x820
__GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32 = 0x1, 0x2, 0x4
__GFP_RECLAIMABLE, __GFP_ZERO, __GFP_NOWARN = 0x10, 0x100, 0x2000
__GFP_ACCOUNT = 0x400000
# include/linux/slab.h enum _slab_flag_bits with this config (no DEBUG_OBJECTS, no FAILSLAB, MEMCG)
SLAB_RED_ZONE, SLAB_POISON, SLAB_HWCACHE_ALIGN = 1 << 1, 1 << 2, 1 << 4
SLAB_STORE_USER, SLAB_TYPESAFE_BY_RCU, SLAB_NO_MERGE = 1 << 7, 1 << 9, 1 << 12
SLAB_ACCOUNT, SLAB_RECLAIM_ACCOUNT, SLAB_CACHE_DMA = 1 << 13, 1 << 15, 1 << 5
PAGE = 4096


def boot(mem: int = 256 << 20, cpus: int = 2, debug: str = "") -> S.SlabAllocator:
    log = KernelLog(clock=lambda: 0.0)
    m = PhysMem(mem)
    sched = Sched(cpus, log.uptime)
    vm = VmStat()
    faults = FaultInject(log)
    trace = KmemTrace()
    vmscan = Vmscan(vm)
    pa = PA.PageAllocator(X86_64, m, log, sched, vm, faults, trace, vmscan, 1)
    sl = S.SlabAllocator(X86_64, pa, log, sched, vm, faults, trace, vmscan, debug)
    S.kmem_cache_init(sl)
    return sl


@pytest.fixture(scope="module")
def booted() -> S.SlabAllocator:
    """One boot for the read-only geometry tests."""
    return boot()


@pytest.fixture
def sl() -> S.SlabAllocator:
    return boot()


def capture(name: str) -> dict[str, dict[str, str]]:
    rows = {}
    for line in (DATA / name).read_text().splitlines():
        cache, *fields = line.split()
        rows[cache] = dict(f.split("=", 1) for f in fields)
    return rows


def slab_bytes(sl: S.SlabAllocator) -> int:
    """NR_SLAB_UNRECLAIMABLE_B of every node (node_page_state gives it in pages)."""
    return PAGE * sum(PA.node_page_state(sl.pa, nid, "nr_slab_unreclaimable_b") for nid in range(len(sl.pa.nodes)))


def log_text(sl: S.SlabAllocator) -> str:
    return "\n".join(r.text for r in sl.log.records)


def chain(sl: S.SlabAllocator, s: S.KmemCache, head: int) -> list[int]:
    """A freelist read from simulated memory: each free object holds the next one's kernel
    address (direct map: 0xffff888000000000 + phys) at s->offset; 0 ends it."""
    out: list[int] = []
    p = head
    while p and len(out) <= 1 << 16:
        out.append(p)
        v = int.from_bytes(sl.mem.read(p + s.offset, 8), "little")
        p = v - X86_64.page_offset if v else 0
    return out


def node(s: S.KmemCache) -> S.KmemCacheNode:
    n = s.node[0]
    assert n is not None
    return n


# -- geometry against the live 6.18 kernel -----------------------------------


KMALLOC = capture("kmalloc-geometry.txt")


def test_capture_has_every_kmalloc_cache() -> None:
    # 4 families (kmalloc-, -rcl-, dma-, -cg-) of 13 sizes: 8..8k with -96 and -192
    assert len(KMALLOC) == 52
    assert (DATA / "kmalloc-geometry.txt.cmd").read_text().strip()


@pytest.mark.parametrize("name", sorted(KMALLOC))
def test_kmalloc_geometry_equals_the_live_kernel(booted: S.SlabAllocator, name: str) -> None:
    live = KMALLOC[name]
    s = S.find_cache(booted, name)
    assert s is not None and s.kmalloc
    got = {"object_size": s.object_size, "slab_size": s.size, "objs_per_slab": s.objects, "order": s.order,
           "align": s.align, "min_partial": s.min_partial, "cpu_partial": s.cpu_partial,
           "usersize": s.usersize, "aliases": max(s.refcount - 1, 0),
           # /proc/slabinfo: objsize is s->size, pagesperslab 1 << order
           "objsize": s.size, "objperslab": s.objects, "pagesperslab": 1 << s.order}
    assert {k: str(v) for k, v in got.items()} == live
    # kmalloc caches get a real directory, never a :-id (usersize = size)
    assert S.sysfs_name(booted, s) == name


def test_boot_caches_equal_the_live_kernel(booted: S.SlabAllocator) -> None:
    for name, live in capture("boot-caches-geometry.txt").items():
        s = S.find_cache(booted, name)
        assert s is not None
        got = {"object_size": s.object_size, "slab_size": s.size, "objs_per_slab": s.objects,
               "order": s.order, "align": s.align, "min_partial": s.min_partial,
               "cpu_partial": s.cpu_partial, "hwcache_align": int(bool(s.flags & SLAB_HWCACHE_ALIGN))}
        assert {k: str(v) for k, v in got.items()} == live
        assert s.refcount == -1 and S.sysfs_name(booted, s) == name


def test_slab_caches_boot_order_equals_the_live_slabinfo(booted: S.SlabAllocator) -> None:
    # /proc/slabinfo lists slab_caches newest first: the boot caches are the last 54 lines
    live = (DATA / "slabinfo-boot-order.txt").read_text().split()
    names = [s.name for s in booted.slab_caches]
    assert names[-len(live):] == live
    # kmem_buckets_cache (SLAB_BUCKETS) comes right after the kmalloc caches
    assert names[-len(live) - 1] == "kmalloc_buckets"


def test_every_cache_descriptor_is_a_kmem_cache_object(booted: S.SlabAllocator) -> None:
    kc, kn = booted.kmem_cache, booted.kmem_cache_node
    assert kc is not None and kn is not None
    assert {s.desc for s in booted.slab_caches} <= kc.live
    assert len(kc.live) == len(booted.slab_caches)
    # one kmem_cache_node per cache and node, kmem_cache_node's own included
    assert len(kn.live) == len(booted.slab_caches)


def test_min_objects_follow_the_cpu_count() -> None:
    # calculate_order: min_objects = 4 * (fls(nr_cpus) + 1): 1 CPU -> 8, get_order(8 * 256) = 0;
    # 16 CPUs -> 24, get_order(24 * 256) = 1 and 8192 % 256 = 0: order 1, 32 objects
    assert S.find_cache(boot(cpus=1), "kmalloc-256").order == 0      # type: ignore[union-attr]
    s = S.find_cache(boot(cpus=16), "kmalloc-256")
    assert s is not None and (s.order, s.objects) == (1, 32)


# -- LDD3's scullc -------------------------------------------------------------


def test_scullc_cache(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    # calculate_alignment: 64 (4000 > 32); calculate_sizes: inuse 4000, offset ALIGN_DOWN(2000, 8),
    # size ALIGN(4000, 64) = 4032; calculate_order: min(12, 32768 // 4032 = 8) objects,
    # get_order(8 * 4032) = 3 and 32768 % 4032 = 512 <= 32768 / 16
    assert (s.align, s.inuse, s.offset, s.size) == (64, 4000, 2000, 4032)
    assert (s.order, s.objects) == (3, 8)
    assert (s.min_order, s.min_objects) == (0, 1)
    # set_cpu_partial: size >= 1024 -> 24 objects, DIV_ROUND_UP(48, 8) = 6 slabs;
    # min_partial clamp(ilog2(4032) / 2 = 5, 5, 10)
    assert (s.cpu_partial, s.cpu_partial_slabs, s.min_partial) == (24, 6, 5)
    assert S.sysfs_name(sl, s) == ":0004032"
    assert S.sysfs_links(sl, s) == ["scullc"]
    assert sl.slab_caches[0] is s
    # kstrdup_const: a module's name is copied into kmalloc-8 ("scullc\0")
    assert sl.mem.read(s.name_addr, 7).tobytes() == b"scullc\0"


def test_unique_ids() -> None:
    sl = boot()
    ids = {}
    for name, flags in (("plain", 0), ("acct", SLAB_ACCOUNT), ("rcl", SLAB_RECLAIM_ACCOUNT),
                        ("dma", SLAB_CACHE_DMA), ("both", SLAB_CACHE_DMA | SLAB_RECLAIM_ACCOUNT)):
        s = S.kmem_cache_create(sl, name, 64, 0, flags, None)
        assert s is not None
        ids[name] = S.sysfs_name(sl, s)
    # create_unique_id: ':' + d/D/a/F/A letters + '-' + %07u of s->size (live: :A-0000064, :a-0000048)
    assert ids == {"plain": ":0000064", "acct": ":A-0000064", "rcl": ":a-0000064", "dma": ":d-0000064",
                   "both": ":da-0000064"}


# -- merging -------------------------------------------------------------------


def test_merge_into_a_compatible_cache(sl: S.SlabAllocator) -> None:
    a = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    # 4030 -> ALIGN(4030, 8) = 4032, aligned 64: 4032 <= 4032 < 4040
    b = S.kmem_cache_create(sl, "other", 4030, 0, SLAB_HWCACHE_ALIGN, None)
    # no HWCACHE_ALIGN: 4028 -> 4032 (align 8), also a match
    c = S.kmem_cache_create(sl, "third", 4028, 0, 0, None)
    assert a is not None and b is a and c is a
    assert a.refcount == 3 and a.aliases == ["other", "third"]
    assert S.sysfs_links(sl, a) == ["scullc", "other", "third"]
    assert a.name == "scullc" and sl.slab_caches[0] is a
    # __kmem_cache_alias: object_size = max, inuse = max(ALIGN(size, 8))
    assert (a.object_size, a.inuse) == (4030, 4032)
    assert S.find_cache(sl, "other") is a
    # kmem_cache_destroy drops references; the last one frees the cache
    assert S.kmem_cache_destroy(sl, a) == 0 and a in sl.slab_caches
    assert S.kmem_cache_destroy(sl, a) == 0 and a in sl.slab_caches
    assert S.kmem_cache_destroy(sl, a) == 0 and a not in sl.slab_caches


@pytest.mark.parametrize("size,align,flags", [
    (4024, 0, 0),                        # 4024 (align 8): 4032 - 4024 = 8 is not < 8
    (4033, 0, SLAB_HWCACHE_ALIGN),       # ALIGN(4040, 64) = 4096 > 4032
    (4000, 128, 0),                      # align 128: 4032 is not a multiple of 128
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_RECLAIM_ACCOUNT),  # SLAB_MERGE_SAME differs
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT),
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_NO_MERGE),          # SLAB_NEVER_MERGE
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_TYPESAFE_BY_RCU),
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_POISON),
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_RED_ZONE),
    (4000, 0, SLAB_HWCACHE_ALIGN | SLAB_STORE_USER),
])
def test_no_merge(sl: S.SlabAllocator, size: int, align: int, flags: int) -> None:
    a = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    b = S.kmem_cache_create(sl, "other", size, align, flags, None)
    assert a is not None and b is not None and b is not a
    assert a.refcount == 1 and b.refcount == 1


def test_ctor_and_usersize_caches_never_merge(sl: S.SlabAllocator) -> None:
    seen: list[int] = []
    a = S.kmem_cache_create(sl, "plain", 200, 0, 0, None)
    b = S.kmem_cache_create(sl, "ctor", 200, 0, 0, seen.append)
    c = S.__kmem_cache_create_args(sl, "user", 200, 0, 0, None, useroffset=0, usersize=200)
    assert a is not None and b is not None and c is not None
    assert len({id(a), id(b), id(c)}) == 3
    # unmergeable caches get their own directory, named after the cache
    assert S.sysfs_name(sl, b) == "ctor" and S.sysfs_name(sl, c) == "user"
    # a constructor moves the free pointer behind the object: offset 200, size 208
    assert (b.offset, b.size) == (200, 208) and (a.offset, a.size) == (96, 200)
    objp = S.kmem_cache_alloc(sl, b, GFP_KERNEL)
    assert objp in seen and len(seen) == b.objects     # setup_object ran the ctor for the whole slab


def test_kmalloc_caches_are_not_merge_targets(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "sixty-four", 64, 0, 0, None)
    k = S.find_cache(sl, "kmalloc-64")
    assert s is not None and s is not k and S.sysfs_name(sl, s) == ":0000064"


def test_merge_takes_the_oldest_candidate(sl: S.SlabAllocator) -> None:
    # find_mergeable walks slab_caches in reverse (oldest first)
    sl.slab_nomerge = True
    old = S.kmem_cache_create(sl, "old", 24, 0, 0, None)
    new = S.kmem_cache_create(sl, "new", 24, 0, 0, None)
    sl.slab_nomerge = False
    assert old is not None and new is not None and old is not new
    assert S.kmem_cache_create(sl, "third", 20, 0, 0, None) is old


def debug_on(sl: S.SlabAllocator, letters: str = "FZPU") -> None:
    """slab_debug=FZPU for the caches created from now on (the checks themselves are
    slub_debug.py's; these tests only create caches)."""
    sl.slub_debug, sl.disable_higher_order_debug = S.parse_slub_debug_flags(letters)


def test_parse_slab_debug() -> None:
    # parse_slub_debug_flags: F Z P U; no letters means DEBUG_DEFAULT_FLAGS (FZPU); '-' clears
    fzpu = 1 << 0 | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER
    assert S.parse_slub_debug_flags("FZPU") == (fzpu, False)
    assert S.parse_slub_debug_flags(",kmalloc-64") == (fzpu, False)
    assert S.parse_slub_debug_flags("ZO") == (SLAB_RED_ZONE, True)
    assert S.parse_slub_debug_flags("") == (0, False)


def test_debug_caches_never_merge_and_keep_no_cpu_partial(sl: S.SlabAllocator) -> None:
    debug_on(sl)
    a = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    b = S.kmem_cache_create(sl, "other", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert a is not None and b is not None and a is not b
    assert (a.cpu_partial, a.cpu_partial_slabs) == (0, 0)
    # an unmergeable cache: its own directory
    assert S.sysfs_name(sl, a) == "scullc"


def test_debug_layout_of_kmalloc_64(sl: S.SlabAllocator) -> None:
    debug_on(sl)
    s = S.__kmem_cache_create_args(sl, "kmalloc-like", 64, 64, 1 << 3, None, 0, 64)  # SLAB_KMALLOC
    assert s is not None
    # calculate_sizes with F Z P U on a kmalloc cache (object 64, align 64):
    # 64 + 8 right red zone = inuse 72; POISON puts the free pointer after it (72);
    # + 2 tracks of 32 + orig_size 8 + 8 red zone = 160; red_left_pad ALIGN(8, 64) = 64 -> 224;
    # ALIGN(224, 64) = 256, 16 per order-0 slab
    assert (s.inuse, s.offset, s.red_left_pad, s.size, s.order, s.objects) == (72, 72, 64, 256, 0, 16)
    assert s.cpu_partial == 0


def test_debug_layout_without_kmalloc(sl: S.SlabAllocator) -> None:
    debug_on(sl)
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    # 4000 + 8 = inuse 4008, free pointer after it: 4016; tracks 64: 4080; red zone 8 + left
    # pad 64: 4152; ALIGN(4152, 64) = 4160. calculate_order: min(12, 32768 // 4160 = 7):
    # get_order(29120) = 3, 32768 % 4160 = 3648 > 2048, > 4096, <= 8192: order 3, 7 objects
    assert (s.inuse, s.offset, s.red_left_pad, s.size) == (4008, 4008, 64, 4160)
    assert (s.order, s.objects) == (3, 7)


def test_slab_debug_o_drops_metadata_when_the_order_grows(sl: S.SlabAllocator) -> None:
    debug_on(sl, "FZPUO")
    # 4096-byte objects: with metadata 4096 + 8 (... ) > 4096: get_order grows 0 -> 1,
    # so DEBUG_METADATA_FLAGS are dropped and the plain layout is used
    s = S.kmem_cache_create(sl, "page-sized", 4096, 0, 0, None)
    assert s is not None
    assert s.size == 4096 and not s.flags & (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER)
    assert s.flags & 1          # SLAB_CONSISTENCY_CHECKS stays


# -- the alloc and free paths ----------------------------------------------------


def fill_slabs(sl: S.SlabAllocator, s: S.KmemCache, nslabs: int) -> list[list[int]]:
    """Allocate nslabs slabs' worth of objects on CPU 0; objects grouped by slab."""
    objs = [S.kmem_cache_alloc(sl, s, GFP_KERNEL) for _ in range(nslabs * s.objects)]
    by_slab: dict[int, list[int]] = {}
    for o in objs:
        assert o is not None
        slab = S.virt_to_slab(sl, o)
        assert slab is not None
        by_slab.setdefault(slab.pfn, []).append(o)
    assert all(len(v) == s.objects for v in by_slab.values())
    return list(by_slab.values())


def test_cpu_slab_and_fast_free(sl: S.SlabAllocator) -> None:
    sl.freelist_random = False      # a kernel without CONFIG_SLAB_FREELIST_RANDOM: address order
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    a = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert a is not None
    c = s.cpu_slab[0]
    slab = c.slab
    # new_slab: the whole freelist goes to the CPU; the slab is frozen and counts all 8 as in use
    assert slab is not None and slab.frozen and slab.inuse == 8 and slab.freelist == 0
    # the rest of the slab is c->freelist, in address order, the pointers inside the objects
    # at offset 2000
    assert chain(sl, s, c.freelist) == [a + i * 4032 for i in range(1, 8)]
    # objects follow each other from the slab's start
    assert a == slab.pfn * PAGE
    assert S.kmem_cache_alloc(sl, s, GFP_KERNEL) == a + 4032
    assert (node(s).nr_slabs, node(s).total_objects, node(s).nr_partial) == (1, 8, 0)
    S.kmem_cache_free(sl, s, a)
    assert chain(sl, s, c.freelist)[:2] == [a, a + 2 * 4032] and slab.inuse == 8   # do_slab_free's fast path


def test_freelist_randomization(sl: S.SlabAllocator) -> None:
    kmalloc32 = S.find_cache(sl, "kmalloc-32")
    assert kmalloc32 is not None
    before = set(kmalloc32.live)
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None and s.random_seq is not None
    # init_cache_random_seq: kcalloc(8 objects, sizeof(unsigned int)) = 32 bytes (kmalloc-32)
    # holding a permutation of 0..7; the cache keeps it scaled by s->size
    new = set(kmalloc32.live) - before
    assert len(new) == 1
    raw = bytes(sl.mem.read(new.pop(), 32))
    perm = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 32, 4)]
    assert sorted(perm) == list(range(8)) and s.random_seq == [v * 4032 for v in perm]
    a = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    slab = S.virt_to_slab(sl, a or 0)
    assert slab is not None and a is not None
    # shuffle_freelist: the chain walks random_seq cyclically from a random position
    order = [a] + chain(sl, s, s.cpu_slab[0].freelist)
    offsets = [o - slab.addr for o in order]
    assert sorted(offsets) == [i * 4032 for i in range(8)]
    pos = s.random_seq.index(offsets[0])
    assert offsets == [s.random_seq[(pos + i) % 8] for i in range(8)]
    # the sequence is freed with the cache
    for o in [a]:
        S.kmem_cache_free(sl, s, o)
    seq_addr = s.random_seq_addr
    assert S.kmem_cache_destroy(sl, s) == 0 and seq_addr not in kmalloc32.live


def test_full_slab_goes_to_cpu_partial_then_drains(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 8)   # slabs 0..6 are full and on no list; slab 7 is the CPU slab
    c = s.cpu_slab[0]
    n = node(s)
    assert n.nr_slabs == 8 and n.nr_partial == 0 and c.partial is None
    # __slab_free into a full, unfrozen slab: put_cpu_partial (not the node list)
    for i in range(6):
        S.kmem_cache_free(sl, s, groups[i][0])
    chain = list(c.partial_slabs())
    assert len(chain) == 6 and chain[0].slabs == 6 and n.nr_partial == 0
    # the 7th: the chain holds cpu_partial_slabs (6) -> __put_partials moves it to the
    # node list (tail), the new slab starts a fresh chain
    S.kmem_cache_free(sl, s, groups[6][0])
    assert [sl_.pfn for sl_ in c.partial_slabs()] == [S.virt_to_slab(sl, groups[6][0]).pfn]  # type: ignore[union-attr]
    assert n.nr_partial == 6
    # __put_partials walks the chain from its head, adding each slab at the tail
    assert [p.pfn for p in n.partial] == [x.pfn for x in chain]


def test_empty_cpu_partial_slabs_discarded_beyond_min_partial(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 8)
    n = node(s)
    before = slab_bytes(sl)
    # empty slabs 0..5 completely: each goes to the CPU partial chain at its first free
    # (later frees find it on no node list and leave it there)
    for i in range(6):
        for o in groups[i]:
            S.kmem_cache_free(sl, s, o)
    assert n.nr_slabs == 8 and n.nr_partial == 0
    # draining the 6 empty slabs: the first 5 are added (nr_partial 0..4 < min_partial 5),
    # the 6th is discarded (nr_partial 5 >= 5)
    S.kmem_cache_free(sl, s, groups[6][0])
    assert n.nr_partial == 5 and n.nr_slabs == 7
    assert slab_bytes(sl) == before - 8 * PAGE


def test_node_partial_slab_freed_when_empty_only_above_min_partial(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 9)
    n = node(s)
    for i in range(7):      # slabs 0..5 onto the node list (one free each), slab 6 starts the chain
        S.kmem_cache_free(sl, s, groups[i][0])
    assert n.nr_partial == 6
    # emptying a slab on the node list: nr_partial 6 >= 5 -> discard_slab
    for o in groups[0][1:]:
        S.kmem_cache_free(sl, s, o)
    assert n.nr_partial == 5 and n.nr_slabs == 8
    # slab 1 emptied: 5 >= 5, discarded -> 4 left; slab 2 emptied: 4 < 5, it stays
    for i in (1, 2):
        for o in groups[i][1:]:
            S.kmem_cache_free(sl, s, o)
    assert n.nr_partial == 4 and n.nr_slabs == 7
    assert any(p.inuse == 0 for p in n.partial)


def test_cpu_partial_feeds_the_next_allocation(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 3)
    c = s.cpu_slab[0]
    S.kmem_cache_free(sl, s, groups[0][3])
    assert c.partial is not None
    # the CPU slab (slab 2) is exhausted: ___slab_alloc takes the CPU partial slab next
    assert S.kmem_cache_alloc(sl, s, GFP_KERNEL) == groups[0][3]
    assert c.partial is None and c.slab is S.virt_to_slab(sl, groups[0][3])


def test_get_partial_node_refills_the_cpu_partial_chain(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 9)
    c = s.cpu_slab[0]
    for i in range(7):
        S.kmem_cache_free(sl, s, groups[i][0])   # 6 on the node list, slab 6 on the chain
    S.kmem_cache_alloc(sl, s, GFP_KERNEL)        # from the chain
    assert c.partial is None and node(s).nr_partial == 6
    # next miss: get_partial_node takes the first node slab for the CPU and moves more to
    # the chain until partial_slabs > cpu_partial_slabs / 2 = 3: 4 more slabs
    S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert len(list(c.partial_slabs())) == 4 and node(s).nr_partial == 1


def test_remote_free_and_deactivate(sl: S.SlabAllocator) -> None:
    sl.freelist_random = False
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    a = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    b = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    slab = s.cpu_slab[0].slab
    assert slab is not None and a is not None and b is not None
    set_current(sl.sched, 1)            # pid 1 runs on CPU 1
    S.kmem_cache_free(sl, s, a)         # a frozen slab of CPU 0: its own freelist (FREE_FROZEN)
    assert chain(sl, s, slab.freelist) == [a] and slab.inuse == 7 and slab.frozen
    set_current(sl.sched, 0)
    S.flush_all(sl, s)
    # deactivate_slab: 6 CPU-free + 1 remote-free objects back; 1 in use; to the node
    # list's tail (it had remote frees)
    assert slab.inuse == 1 and not slab.frozen and node(s).nr_partial == 1
    # the CPU freelist (6, from the third object on) spliced in front of the slab's own (a)
    assert chain(sl, s, slab.freelist) == [a + i * 4032 for i in range(2, 8)] + [a]


def test_kmem_cache_shrink(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 9)
    pfn = [S.virt_to_slab(sl, g[0]).pfn for g in groups]  # type: ignore[union-attr]
    n = node(s)
    for i in range(7):
        S.kmem_cache_free(sl, s, groups[i][0])   # node list: slabs 5 4 3 2 1 0 (7 in use each); chain: 6
    for i in (0, 1, 2):
        for o in groups[i][1:]:
            S.kmem_cache_free(sl, s, o)          # 0 and 1 discarded (6, 5 >= 5), 2 kept (4 < 5)
    for o in groups[3][1:6]:
        S.kmem_cache_free(sl, s, o)              # slab 3: 6 free
    assert [p.pfn for p in n.partial] == [pfn[5], pfn[4], pfn[3], pfn[2]] and n.nr_slabs == 7
    assert S.kmem_cache_shrink(sl, s) == 1
    # flush_all: the CPU slab (8, full) goes on no list, the chain (6) to the tail: 5 4 3 2 6;
    # then the empty slab 2 is freed whatever min_partial says, and the rest are sorted by
    # free objects, fewest first: 1 free (5 4 6, each list_move'd to the head of promote[0],
    # so 6 4 5), then slab 3 (6 free)
    assert [p.pfn for p in n.partial] == [pfn[6], pfn[4], pfn[5], pfn[3]]
    assert (n.nr_partial, n.nr_slabs) == (4, 6)
    # freeing everything and shrinking releases every slab
    for o in list(s.live):
        S.kmem_cache_free(sl, s, o)
    assert S.kmem_cache_shrink(sl, s) == 0 and n.nr_slabs == 0 and n.nr_partial == 0


def test_shrink_ignores_min_partial(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    objs = fill_slabs(sl, s, 3)
    for group in objs:
        for o in group:
            S.kmem_cache_free(sl, s, o)
    n = node(s)
    S.flush_all(sl, s)
    assert n.nr_slabs == 3                   # kept: never more than min_partial on the list
    assert S.kmem_cache_shrink(sl, s) == 0 and n.nr_slabs == 0


def test_destroy_with_objects_warns_and_unlinks(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert S.kmem_cache_destroy(sl, s) == 1
    assert s not in sl.slab_caches
    text = log_text(sl)
    assert "kmem_cache_destroy scullc: Slab cache still has objects when called from" in text
    assert "BUG scullc (Not tainted): Objects remaining on __kmem_cache_shutdown()" in text


def test_destroy_frees_everything(sl: S.SlabAllocator) -> None:
    before = slab_bytes(sl)
    kc = sl.kmem_cache
    assert kc is not None
    live = len(kc.live)
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    objs = [S.kmem_cache_alloc(sl, s, GFP_KERNEL) for _ in range(30)]
    for o in objs:
        assert o is not None
        S.kmem_cache_free(sl, s, o)
    assert S.kmem_cache_destroy(sl, s) == 0
    assert len(kc.live) == live
    assert slab_bytes(sl) <= before + 2 * PAGE    # at most kmalloc-8 (the name's copy) and kmem_cache slabs kept


def test_wrong_cache_free_warns_and_frees_to_the_right_one(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    k = S.find_cache(sl, "kmalloc-64")
    assert s is not None and k is not None
    o = S.kmalloc(sl, 64, GFP_KERNEL)
    assert o is not None
    S.kmem_cache_free(sl, s, o)
    assert "cache_from_obj: Wrong slab cache. scullc but object is from kmalloc-64" in log_text(sl)
    assert o not in k.live


def test_double_free_is_reported_and_ignored(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    a = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    b = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert a is not None and b is not None
    S.kmem_cache_free(sl, s, a)
    free_before = chain(sl, s, s.cpu_slab[0].freelist)
    # set_freepointer's BUG_ON(object == fp): a at the head of the freelist it goes onto
    S.kmem_cache_free(sl, s, a)
    assert "kernel BUG at mm/slub.c:550!" in log_text(sl)
    S.kmem_cache_free(sl, s, b)
    S.kmem_cache_free(sl, s, a)        # not the head any more: the simulator's own report
    assert f"double free of object 0x{X86_64.page_offset + a:016x}" in log_text(sl)
    assert chain(sl, s, s.cpu_slab[0].freelist) == [b] + free_before


def test_slab_out_of_memory_report() -> None:
    sl = boot(mem=64 << 20)
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    got = 0
    while S.kmem_cache_alloc(sl, s, GFP_ATOMIC) is not None:
        got += 1
    text = log_text(sl)
    assert re.search(r"SLUB: Unable to allocate memory on CPU 0 \(of node 0\) on node -1, "
                     r"gfp=0x820\(GFP_ATOMIC\)", text)
    assert "  cache: scullc, object size: 4000, buffer size: 4032, default order: 3, min order: 0" in text
    n = node(s)
    assert f"  node 0: slabs: {n.nr_slabs}, objs: {n.total_objects}, free: 0" in text
    assert got == n.total_objects
    # __GFP_NOWARN: no report
    count = text.count("SLUB: Unable")
    assert S.kmem_cache_alloc(sl, s, GFP_ATOMIC | __GFP_NOWARN) is None
    assert log_text(sl).count("SLUB: Unable") == count


# -- kmalloc -------------------------------------------------------------------


@pytest.mark.parametrize("size,name", [
    (1, "kmalloc-8"), (8, "kmalloc-8"), (9, "kmalloc-16"), (17, "kmalloc-32"), (24, "kmalloc-32"),
    (33, "kmalloc-64"), (64, "kmalloc-64"), (65, "kmalloc-96"), (96, "kmalloc-96"), (97, "kmalloc-128"),
    (129, "kmalloc-192"), (192, "kmalloc-192"), (193, "kmalloc-256"), (257, "kmalloc-512"),
    (1000, "kmalloc-1k"), (1025, "kmalloc-2k"), (4000, "kmalloc-4k"), (4097, "kmalloc-8k"),
    (8192, "kmalloc-8k"),
])
def test_kmalloc_size_classes(booted: S.SlabAllocator, size: int, name: str) -> None:
    s = S.kmem_find_general_cachep(booted, size, GFP_KERNEL)
    assert s is not None and s.name == name


@pytest.mark.parametrize("gfp,prefix", [
    (GFP_KERNEL, "kmalloc-"), (GFP_KERNEL | __GFP_ACCOUNT, "kmalloc-cg-"),
    (GFP_KERNEL | __GFP_RECLAIMABLE, "kmalloc-rcl-"), (GFP_KERNEL | __GFP_DMA, "dma-kmalloc-"),
    # priority DMA > RECLAIMABLE > ACCOUNT
    (GFP_KERNEL | __GFP_DMA | __GFP_RECLAIMABLE | __GFP_ACCOUNT, "dma-kmalloc-"),
    (GFP_KERNEL | __GFP_RECLAIMABLE | __GFP_ACCOUNT, "kmalloc-rcl-"),
])
def test_kmalloc_types(booted: S.SlabAllocator, gfp: int, prefix: str) -> None:
    s = S.kmem_find_general_cachep(booted, 100, gfp)
    assert s is not None and s.name == prefix + "128"


def test_kmalloc_from_its_cache(sl: S.SlabAllocator) -> None:
    o = S.kmalloc(sl, 100, GFP_KERNEL)
    slab = S.virt_to_slab(sl, o or 0)
    assert slab is not None and slab.cache.name == "kmalloc-128" and o in slab.cache.live
    assert S.ksize(sl, o) == 128
    S.kfree(sl, o)
    assert o not in slab.cache.live


def test_dma_kmalloc_slabs_are_in_zone_dma(sl: S.SlabAllocator) -> None:
    o = S.kmalloc(sl, 100, GFP_KERNEL | __GFP_DMA)
    assert o is not None and o < 16 << 20     # ZONE_DMA: below 16 MiB
    s = S.find_cache(sl, "dma-kmalloc-128")
    assert s is not None and s.allocflags & __GFP_DMA


def test_zero_size(sl: S.SlabAllocator) -> None:
    assert S.kmalloc(sl, 0, GFP_KERNEL) == 16       # ZERO_SIZE_PTR
    assert S.ksize(sl, 16) == 0
    S.kfree(sl, 16)
    S.kfree(sl, None)
    assert "BUG" not in log_text(sl) and "WARNING" not in log_text(sl)


def test_kzalloc_and_kcalloc(sl: S.SlabAllocator) -> None:
    o = S.kmalloc(sl, 64, GFP_KERNEL)
    assert o is not None
    sl.mem.fill(o, 64, 0xAB)
    S.kfree(sl, o)
    z = S.kzalloc(sl, 64, GFP_KERNEL)
    assert z == o and bytes(sl.mem.read(z, 64)) == bytes(64)
    assert S.kcalloc(sl, 1 << 32, 1 << 32, GFP_KERNEL) is None    # overflows size_t
    c = S.kcalloc(sl, 10, 8, GFP_KERNEL)
    assert c is not None and bytes(sl.mem.read(c, 80)) == bytes(80)


def test_large_kmalloc_comes_from_the_page_allocator(sl: S.SlabAllocator) -> None:
    before = slab_bytes(sl)
    lines = [s.name for s in sl.slab_caches]
    o = S.kmalloc(sl, 8193, GFP_KERNEL)           # get_order(8193) = 2: 16 KiB
    assert o is not None and o % (4 * PAGE) == 0
    assert S.virt_to_slab(sl, o) is None
    assert slab_bytes(sl) == before + 4 * PAGE    # NR_SLAB_UNRECLAIMABLE_B += PAGE_SIZE << order
    assert S.ksize(sl, o) == 4 * PAGE
    assert [s.name for s in sl.slab_caches] == lines
    S.kfree(sl, o)
    assert slab_bytes(sl) == before


def test_kmalloc_max_size(sl: S.SlabAllocator) -> None:
    o = S.kmalloc(sl, 4 << 20, GFP_KERNEL)        # KMALLOC_MAX_SIZE: order 10
    assert o is not None and S.ksize(sl, o) == 4 << 20
    S.kfree(sl, o)
    assert S.kmalloc(sl, (4 << 20) + 1, GFP_KERNEL | __GFP_NOWARN) is None   # order 11


def test_kmalloc_fix_flags(sl: S.SlabAllocator) -> None:
    # ___kmalloc_large_node: flags & GFP_SLAB_BUG_MASK (DMA32|HIGHMEM|bits above 25)
    o = S.kmalloc(sl, 16384, GFP_KERNEL | __GFP_HIGHMEM)
    assert o is not None
    assert ("Unexpected gfp: 0x2 (__GFP_HIGHMEM). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!"
            in log_text(sl))
    S.kmalloc(sl, 16384, GFP_KERNEL | __GFP_DMA32 | (1 << 26))
    # %pGg: GFP_DMA32 comes before __GFP_DMA32 in gfpflag_names
    assert ("Unexpected gfp: 0x4000004 (GFP_DMA32|0x4000000). Fixing up to gfp: 0xcc0 (GFP_KERNEL)."
            " Fix your code!" in log_text(sl))


def test_kmalloc_fix_flags_when_a_slab_is_made(sl: S.SlabAllocator) -> None:
    s = S.find_cache(sl, "kmalloc-2k")
    assert s is not None
    # only new_slab checks the flags: take objects until a new slab is needed
    for _ in range(s.objects + 1):
        S.kmalloc(sl, 2048, GFP_KERNEL | __GFP_DMA32)
    assert "Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL)." in log_text(sl)


def test_zeroing(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    o = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert o is not None
    sl.mem.fill(o, 4032, 0x5A)
    S.kmem_cache_free(sl, s, o)
    z = S.kmem_cache_alloc(sl, s, GFP_KERNEL | __GFP_ZERO)
    # slab_post_alloc_hook clears object_size bytes, not the padding to s->size
    assert z == o and bytes(sl.mem.read(z, 4000)) == bytes(4000)
    assert bytes(sl.mem.read(z + 4000, 32)) == b"\x5a" * 32


# -- an invariant ------------------------------------------------------------------

OPS = st.lists(st.tuples(st.sampled_from(["alloc", "free", "shrink", "cpu", "kmalloc", "kfree"]),
                         st.integers(0, 1 << 16)), max_size=300)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, slow=st.booleans(), debug=st.sampled_from(["", "", "FZPU", "U"]))
def test_objects_are_distinct_live_inside_their_slab_and_all_come_back(ops: list[tuple[str, int]],
                                                                      slow: bool, debug: str) -> None:
    sl = boot(mem=64 << 20, debug=debug)
    sl.slow = slow
    caches = [S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None),
              S.kmem_cache_create(sl, "small", 40, 0, 0, None)]
    held: list[tuple[S.KmemCache, int]] = []
    kheld: list[int] = []
    for op, arg in ops:
        if op == "alloc":
            s = caches[arg % 2]
            assert s is not None
            o = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
            if o is not None:
                held.append((s, o))
        elif op == "free" and held:
            s, o = held.pop(arg % len(held))
            S.kmem_cache_free(sl, s, o)
        elif op == "kmalloc":
            o = S.kmalloc(sl, arg % 9000 + 1, GFP_KERNEL)
            if o is not None:
                kheld.append(o)
        elif op == "kfree" and kheld:
            S.kfree(sl, kheld.pop(arg % len(kheld)))
        elif op == "shrink":
            s = caches[arg % 2]
            assert s is not None
            S.kmem_cache_shrink(sl, s)
        elif op == "cpu":
            set_current(sl.sched, arg)
    addrs = [o for _, o in held]
    assert len(set(addrs)) == len(addrs)
    for s, o in held:
        assert S.slab_object_is_live(s, o)
        slab = S.virt_to_slab(sl, o)
        assert slab is not None and slab.cache is s
        off = o - slab.addr - s.red_left_pad
        assert 0 <= off and off % s.size == 0 and off // s.size < slab.objects
        assert o not in chain(sl, s, slab.freelist)
        assert all(o not in chain(sl, s, c.freelist) for c in s.cpu_slab)
    for s in caches:
        assert s is not None
        n = node(s)
        # a slab's objects: in use (live) or free on exactly one freelist
        free = sum(len(chain(sl, s, c.freelist)) for c in s.cpu_slab)
        slabs = {p.pfn for p in n.partial} | {c.slab.pfn for c in s.cpu_slab if c.slab} | \
            {p.pfn for c in s.cpu_slab for p in c.partial_slabs()}
        assert n.nr_partial == len(list(n.partial))
        if s.flags & SLAB_STORE_USER:
            # debug caches keep their full slabs on n->full, and never use a CPU slab
            assert all(x.inuse == x.objects for x in n.full)
            assert all(c.slab is None and not c.freelist for c in s.cpu_slab)
        assert len(s.live) + free + sum(len(chain(sl, s, x.freelist)) for x in _slabs(sl, s)) == n.total_objects
        assert slabs <= {sl_.pfn for sl_ in _slabs(sl, s)}
    for s, o in held:
        S.kmem_cache_free(sl, s, o)
    for o in kheld:
        S.kfree(sl, o)
    for s in caches:
        assert s is not None
        assert not s.live
        assert S.kmem_cache_shrink(sl, s) == 0
        assert node(s).nr_slabs == 0
    assert not sl.large
    # nothing but legitimate operations: no report
    assert not re.search(r"BUG|WARNING|slab: ", log_text(sl))


def _slabs(sl: S.SlabAllocator, s: S.KmemCache) -> list[S.Slab]:
    seen: dict[int, S.Slab] = {}
    for owner in sl.mem_map:
        if isinstance(owner, S.Slab) and owner.cache is s:
            seen[owner.pfn] = owner
    return list(seen.values())


# -- allocate_slab's page requests, fault injection, trace events ----------------------


def record(sl: S.SlabAllocator) -> list[tuple[str, str | None, int, int, int | None]]:
    events: list[tuple[str, str | None, int, int, int | None]] = []

    def hook(event: str, cachep: object, objp: int, gfp: int, size: int | None) -> None:
        events.append((event, getattr(cachep, "name", None), objp, gfp, size))
    sl.trace.hook = hook
    sl.slow = sl.pa.slow = True      # as Kernel.update_fault_injection does for a hook
    return events


def test_allocate_slab_asks_for_the_order_without_reclaim_then_the_minimum(
        sl: S.SlabAllocator, monkeypatch: pytest.MonkeyPatch) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    attr = sl.faults.fail_page_alloc
    attr.probability, attr.times = 100, -1       # fails every request of order >= min_order (1)
    sl.faults.fail_page_alloc_armed = True
    sl.pa.slow = True                            # as Kernel.update_fault_injection does
    asked: list[tuple[int, int, int | None]] = []
    # a compiled build runs this call (fault injection is on) in the pure twin, which
    # calls its own page allocator's functions (allocator/_pure.py): spy on both
    real = twin(PA).alloc_pages

    def alloc_pages(pa: PA.PageAllocator, gfp: int, order: int, node_id: int | None = None,
                    owner: object = None) -> int | None:
        pfn = real(pa, gfp, order, node_id, owner)
        asked.append((gfp, order, pfn))
        return pfn
    for module in {PA, twin(PA)}:
        monkeypatch.setattr(module, "alloc_pages", alloc_pages)
    o = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    # new_slab keeps GFP_RECLAIM_MASK|GFP_CONSTRAINT_MASK of 0xcc0; allocflags add __GFP_COMP
    # (0x40000): 0x40cc0. allocate_slab: | __GFP_NOWARN | __GFP_NORETRY, and as order 3 >
    # min order 0: | __GFP_NOMEMALLOC, & ~__GFP_RECLAIM -> 0xd20c0. It fails (fail_page_alloc),
    # so s->min (order 0) with the caller's flags: 0x40cc0
    assert [(g, order) for g, order, _ in asked] == [(0xD20C0, 3), (0x40CC0, 0)]
    assert asked[0][2] is None and asked[1][2] is not None
    slab = S.virt_to_slab(sl, o or 0)
    assert slab is not None and (slab.order, slab.objects) == (0, 1)
    assert (node(s).nr_slabs, node(s).total_objects) == (1, 1)


def test_failslab(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    attr = sl.faults.failslab
    attr.probability, attr.times, attr.verbose = 100, -1, 0
    sl.faults.failslab_armed = True
    sl.slow = True
    # __should_failslab: ignore-gfp-wait spares __GFP_DIRECT_RECLAIM (GFP_KERNEL)
    assert S.kmem_cache_alloc(sl, s, GFP_KERNEL) is not None
    assert S.kmem_cache_alloc(sl, s, GFP_ATOMIC) is None
    assert S.kmalloc(sl, 64, GFP_ATOMIC) is None
    assert S.kmalloc(sl, 64, GFP_KERNEL) is not None
    # never the bootstrap cache kmem_cache
    kc = sl.kmem_cache
    assert kc is not None and S.kmem_cache_alloc(sl, kc, GFP_ATOMIC) is not None


def test_trace_events(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    sl.slow = True
    events = record(sl)
    a = S.kmalloc(sl, 100, GFP_KERNEL)
    S.kfree(sl, a)
    S.kfree(sl, None)
    b = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    S.kmem_cache_free(sl, s, b or 0)
    big = S.kmalloc(sl, 10000, GFP_KERNEL)
    S.kfree(sl, big)
    slab_events = [(ev, name, size) for ev, name, _, _, size in events if not ev.startswith("mm_page")]
    # kmalloc emits kmalloc (not kmem_cache_alloc); kfree emits kfree first, even for NULL;
    # a slab object freed by kfree has no kmem_cache_free; the large kmalloc has no cache and,
    # its size not being a compile-time constant, two events (kmalloc-large-trace.txt)
    assert slab_events == [("kmalloc", "kmalloc-128", 100), ("kfree", None, None), ("kfree", None, None),
                           ("kmem_cache_alloc", "scullc", None), ("kmem_cache_free", "scullc", None),
                           ("kmalloc", None, 10000), ("kmalloc", None, 10000), ("kfree", None, None)]
    live = [line for line in (DATA / "kmalloc-large-trace.txt").read_text().splitlines() if "kmalloc:" in line]
    assert len(live) == 2 and all("bytes_req=20000 bytes_alloc=32768" in line for line in live)
    # the large kmalloc's pages: mm_page_alloc of order 2 (get_order(10000)), then mm_page_free
    page_events = [(ev, size) for ev, _, _, _, size in events if ev.startswith("mm_page")]
    assert ("mm_page_alloc", 2) in page_events and page_events[-1] == ("mm_page_free", 2)


def test_two_nodes() -> None:
    log = KernelLog(clock=lambda: 0.0)
    m = PhysMem(256 << 20)
    sched = Sched(2, log.uptime)
    vm = VmStat()
    faults = FaultInject(log)
    trace = KmemTrace()
    vmscan = Vmscan(vm)
    pa = PA.PageAllocator(X86_64, m, log, sched, vm, faults, trace, vmscan, 2)
    sl = S.SlabAllocator(X86_64, pa, log, sched, vm, faults, trace, vmscan, "")
    S.kmem_cache_init(sl)
    kc = S.find_cache(sl, "kmem_cache")
    assert kc is not None and kc.object_size == 224 + 2 * 8     # offsetof(node) + nr_node_ids pointers
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None and all(n is not None for n in s.node)
    got = {}
    for cpu in (0, 1):
        set_current(sched, cpu)
        o = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
        slab = S.virt_to_slab(sl, o or 0)
        assert slab is not None
        got[cpu] = slab.node
    # each CPU's slab comes from its own node (CPU 0 on node 0, CPU 1 on node 1)
    assert got == {0: pa.cpu_node[0], 1: pa.cpu_node[1]}
    o = S.kmem_cache_alloc_node(sl, s, GFP_KERNEL, 0)
    assert S.virt_to_slab(sl, o or 0).node == 0     # type: ignore[union-attr]


def test_get_slabinfo_counts_cpu_free_objects_as_active(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    groups = fill_slabs(sl, s, 4)
    for i in range(3):
        S.kmem_cache_free(sl, s, groups[i][0])     # 3 slabs on the CPU partial chain
    S.kmem_cache_free(sl, s, groups[3][0])         # onto the CPU freelist
    # get_slabinfo: active = total - free objects on the node partial lists (none here)
    assert S.get_slabinfo(s) == (32, 32, 4, 4, 8, 3)
    S.flush_all(sl, s)
    # now 4 slabs on the node list with 1 free object each
    assert S.get_slabinfo(s) == (28, 32, 4, 4, 8, 3)


def test_a_write_to_a_freed_object_breaks_the_chain(sl: S.SlabAllocator) -> None:
    s = S.kmem_cache_create(sl, "scullc", 4000, 0, SLAB_HWCACHE_ALIGN, None)
    assert s is not None
    a = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    b = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert a is not None and b is not None
    S.kmem_cache_free(sl, s, a)
    # use after free: the free pointer sits in the middle of the object (offset 2000)
    sl.mem.write(a + 2000, (X86_64.page_offset + b).to_bytes(8, "little"))
    assert S.kmem_cache_alloc(sl, s, GFP_KERNEL) == a
    # a's pointer named b, which is handed out: 6.18 would hand b out twice; the simulator
    # reports it and drops the rest of the CPU freelist
    assert "corrupted" in log_text(sl) and s.cpu_slab[0].freelist == 0
    c = S.kmem_cache_alloc(sl, s, GFP_KERNEL)
    assert c is not None and c not in (a, b)


ALL = capture("all-caches-geometry.txt")


@pytest.mark.parametrize("name", sorted(ALL))
def test_geometry_of_every_cache_of_the_live_kernel(booted: S.SlabAllocator, name: str) -> None:
    """calculate_sizes + calculate_order on each cache the live 6.18 kernel has, from its
    object_size, align and flags (sysfs): s->size, objects per slab and order as it shows."""
    live = {k: int(v) for k, v in ALL[name].items()}
    flags = 0
    for attr, bit in (("reclaim_account", SLAB_RECLAIM_ACCOUNT), ("cache_dma", SLAB_CACHE_DMA),
                      ("destroy_by_rcu", SLAB_TYPESAFE_BY_RCU), ("poison", SLAB_POISON),
                      ("red_zone", SLAB_RED_ZONE), ("store_user", SLAB_STORE_USER)):
        if live[attr]:
            flags |= bit
    if name.startswith(("kmalloc-", "dma-kmalloc-")):
        flags |= 1 << 3                 # SLAB_KMALLOC
    results = set()
    # a TYPESAFE_BY_RCU cache may have given a freeptr_offset inside the object (6.13+ filp)
    for freeptr in ([None, 0] if flags & SLAB_TYPESAFE_BY_RCU else [None]):
        s = S.KmemCache(name=name, object_size=live["object_size"], size=live["object_size"],
                        align=live["align"], flags=flags, ctor=(lambda p: None) if live["ctor"] else None)
        assert S.calculate_sizes(booted, s, freeptr)
        results.add((s.size, s.objects, s.order))
    assert (live["slab_size"], live["objs_per_slab"], live["order"]) in results


def test_account_caches_get_an_obj_exts_vector_per_slab(sl: S.SlabAllocator) -> None:
    cg = S.find_cache(sl, "kmalloc-cg-64")
    k512 = S.find_cache(sl, "kmalloc-512")
    assert cg is not None and k512 is not None and node(cg).nr_slabs == 0
    before = set(k512.live)
    o = S.kmalloc(sl, 64, GFP_KERNEL | __GFP_ACCOUNT)
    slab = S.virt_to_slab(sl, o or 0)
    assert slab is not None and slab.cache is cg
    # account_slab -> alloc_slab_obj_exts: kcalloc(64 objects, sizeof(struct slabobj_ext) 8)
    # = 512 bytes from kmalloc-512 (without __GFP_ACCOUNT: OBJCGS_CLEAR_MASK), zeroed
    new = set(k512.live) - before
    assert new == {slab.obj_exts} and bytes(sl.mem.read(slab.obj_exts, 512)) == bytes(512)
    # a cache without SLAB_ACCOUNT has none
    p = S.kmalloc(sl, 64, GFP_KERNEL)
    assert S.virt_to_slab(sl, p or 0).obj_exts == 0     # type: ignore[union-attr]
    S.kfree(sl, o)
    assert S.kmem_cache_shrink(sl, cg) == 0
    assert set(k512.live) == before                     # free_slab_obj_exts with the slab


def test_usercopy_and_roundup(sl: S.SlabAllocator) -> None:
    # fs/dcache.c: dentry is KMEM_CACHE_USERCOPY over d_iname; usersize makes it unmergeable
    d = S.kmem_cache_create_usercopy(sl, "dentry", 192, 0, SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, 56, 40, None)
    assert d is not None and (d.useroffset, d.usersize) == (56, 40) and S.sysfs_name(sl, d) == "dentry"
    assert S.kmem_cache_size(d) == 192
    # kmalloc_size_roundup: the kmalloc cache's object size, then whole pages (get_order)
    assert [S.kmalloc_size_roundup(sl, n) for n in (0, 1, 65, 200, 8192, 8193, 4 << 20, (4 << 20) + 1)] == \
        [0, 8, 96, 256, 8192, 16384, 4 << 20, (4 << 20) + 1]
