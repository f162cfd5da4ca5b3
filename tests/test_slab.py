"""SLAB lookaside caches against 2.6 mm/slab.c on i386 (SMP, 4 KiB pages, 64-byte lines)."""
from __future__ import annotations

import errno
import re

import pytest

from allocator import gfp as G
from allocator import procfs
from allocator.page_alloc import PAGES
from allocator.slab import (
    CFLGS_OFF_SLAB,
    SLAB_CACHE_DMA,
    SLAB_CTOR_ATOMIC,
    SLAB_CTOR_CONSTRUCTOR,
    SLAB_HWCACHE_ALIGN,
    SLAB_NO_REAP,
    Slab,
)

SLABINFO_LINE = re.compile(
    r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) : tunables\s+(\d+)\s+(\d+)\s+(\d+)"
    r" : slabdata\s+(\d+)\s+(\d+)\s+(\d+)$")


@pytest.fixture
def k(kernel):
    return kernel(mem=64 << 20, cpus=2)


def slabinfo_row(kernel, name):
    """The cache's /proc/slabinfo line as numbers: active_objs, num_objs, objsize,
    objperslab, pagesperslab, limit, batchcount, shared, active_slabs, num_slabs, sharedavail."""
    for line in procfs.slabinfo(kernel).splitlines()[2:]:
        m = SLABINFO_LINE.match(line)
        assert m, line
        if m.group(1) == name:
            return tuple(int(x) for x in m.groups()[1:])
    raise LookupError(name)


def in_arrays(cachep):
    return sum(len(ac.entry) for ac in cachep.array) + cachep.shared_avail()


# --------------------------------------------------------------------------- geometry

# name: (objsize, objperslab, pagesperslab, limit, batchcount, shared) as a 2.6 SMP i386 prints
GENERAL_CACHES = {
    "size-32": (32, 113, 1, 120, 60, 8),
    "size-64": (64, 59, 1, 120, 60, 8),
    "size-128": (128, 30, 1, 120, 60, 8),
    "size-256": (256, 15, 1, 120, 60, 8),
    "size-512": (512, 8, 1, 54, 27, 8),
    "size-1024": (1024, 4, 1, 54, 27, 8),
    "size-2048": (2048, 2, 1, 24, 12, 8),
    "size-4096": (4096, 1, 1, 24, 12, 8),
    "size-8192": (8192, 1, 2, 8, 4, 0),
    "size-16384": (16384, 1, 4, 8, 4, 0),
    "size-32768": (32768, 1, 8, 8, 4, 0),
    "size-65536": (65536, 1, 16, 8, 4, 0),
    "size-131072": (131072, 1, 32, 8, 4, 0),
}


@pytest.mark.parametrize("name", sorted(GENERAL_CACHES, key=lambda n: int(n[5:])))
def test_general_cache_geometry_matches_a_2_6_smp_i386_kernel(k, name):
    expected = GENERAL_CACHES[name]
    for cache_name in (name, name + "(DMA)"):
        row = slabinfo_row(k, cache_name)
        assert row[2:8] == expected, cache_name


def test_general_caches_from_512_bytes_keep_their_slab_descriptor_off_slab(k):
    for name in GENERAL_CACHES:
        c = k.find_cache(name)
        assert bool(c.flags & CFLGS_OFF_SLAB) == (c.buffer_size >= 512), name
    # the descriptor (num * 4 + 28 bytes) comes from the general cache that fits it
    assert k.find_cache("size-512").slabp_cache.name == "size-64"      # 8*4+28 = 60
    assert k.find_cache("size-4096").slabp_cache.name == "size-32"     # 1*4+28 = 32


def test_on_slab_geometry_fits_descriptor_bufctls_and_objects_in_one_page(k):
    # 113 * 32 + align(28 + 113*4, 32) = 3616 + 480 = 4096 exactly
    c = k.find_cache("size-32")
    assert c.num * c.buffer_size + c.slab_size <= 4096
    assert (c.num + 1) * c.buffer_size + c.slab_size + 4 > 4096
    assert c.slab_size == 480


def test_tunables_by_object_size_and_batchcount_is_half_the_limit(k):
    cases = {100: 120, 256: 120, 257: 54, 1024: 54, 1025: 24, 4096: 24, 4097: 8, 131072: 8}
    for size, limit in cases.items():
        c = k.kmem_cache_create(f"tune-{size}", size, 0, 0)
        assert (c.limit, c.batchcount) == (limit, (limit + 1) // 2), size
        assert c.shared == (8 if c.buffer_size <= 4096 else 0), size


def test_single_cpu_smp_machine_keeps_shared_arrays_of_8(kernel):
    k1 = kernel(mem=32 << 20, cpus=1)           # enable_cpucache: shared = 8 under CONFIG_SMP
    assert all(c.shared == (8 if c.buffer_size <= 4096 else 0) for c in k1.cache_chain)
    assert slabinfo_row(k1, "size-32")[5:8] == (120, 60, 8)


def test_scullc_cache_of_4000_bytes_hwcache_aligned_is_4032_one_per_page(k):
    c = k.kmem_cache_create("scullc", 4000, 0, SLAB_HWCACHE_ALIGN)
    assert slabinfo_row(k, "scullc")[2:8] == (4032, 1, 1, 24, 12, 8)
    # the 64 bytes left over hold the descriptor: management went back on-slab
    assert not c.flags & CFLGS_OFF_SLAB and c.colour == 0


def test_object_size_rounds_to_words_or_to_a_shrunk_cache_line(k):
    assert k.kmem_cache_create("odd5", 5, 0, 0).buffer_size == 8
    assert k.kmem_cache_create("odd20hw", 20, 0, SLAB_HWCACHE_ALIGN).buffer_size == 32
    assert k.kmem_cache_create("odd33hw", 33, 0, SLAB_HWCACHE_ALIGN).buffer_size == 64
    assert k.kmem_cache_create("odd100al", 100, 128, 0).buffer_size == 128


def test_slab_order_breaks_at_order_1_only_above_32m(kernel):
    # 1100-byte objects waste 796 bytes (> 1/8) of an order-0 slab
    small = kernel(mem=32 << 20)
    big = kernel(mem=64 << 20)
    cs = small.kmem_cache_create("o1100", 1100, 0, 0)
    cb = big.kmem_cache_create("o1100", 1100, 0, 0)
    assert (cs.gfporder, cs.num) == (0, 3)    # slab_break_gfp_order 0 at <= 32 MiB
    assert (cb.gfporder, cb.num) == (1, 7)    # 1 above: 8192 / 1100 = 7


# --------------------------------------------------------------------------- creation


@pytest.mark.parametrize("name", ["", "has space", "tab\tname", "new\nline"])
def test_cache_names_are_not_checked_beyond_null_as_in_2_6_18(k, name):
    chain = list(k.cache_chain)
    assert k.kmem_cache_create(name, 64, 0, 0) is not None   # only WARN_ON(strchr(name, ' ')) with DEBUG
    assert k.kmem_cache_create(None, 64, 0, 0) is None
    assert k.log.grep("kmem_cache_create: Early error in slab <NULL>")
    assert k.cache_chain[1:] == chain


def test_duplicate_cache_name_is_refused_with_a_log_line(k):
    first = k.kmem_cache_create("dup", 64, 0, 0)
    assert first is not None
    assert k.kmem_cache_create("dup", 128, 0, 0) is None
    assert k.kmem_cache_create("size-32", 32, 0, 0) is None
    assert len(k.log.grep("duplicate cache")) == 2
    assert [c.name for c in k.cache_chain].count("dup") == 1


def test_bad_sizes_and_a_destructor_without_constructor_are_refused(k):
    assert k.kmem_cache_create("tiny", 2, 0, 0) is None
    assert k.kmem_cache_create("huge", 131073, 0, 0) is None
    assert k.kmem_cache_create("dtoronly", 64, 0, 0, None, lambda *a: None) is None
    assert len(k.log.grep("Early error in slab")) == 3


def test_slab_cache_dma_slabs_come_from_zone_dma(k):
    dma_cache = k.kmem_cache_create("dmabufs", 1000, 0, SLAB_CACHE_DMA)
    plain = k.kmem_cache_create("plainbufs", 1000, 0, 0)
    dma_objs = [k.kmem_cache_alloc(dma_cache, G.GFP_KERNEL | G.__GFP_DMA) for _ in range(50)]
    plain_objs = [k.kmem_cache_alloc(plain, G.GFP_KERNEL) for _ in range(50)]
    assert all(o + 1000 <= 16 << 20 for o in dma_objs)
    assert all(k.zone_of(o >> 12).name == "DMA" for o in dma_objs)
    assert all(k.zone_of(o >> 12).name == "Normal" for o in plain_objs)


# --------------------------------------------------------------------------- ctor / dtor


def test_constructor_runs_once_per_object_when_a_slab_grows(k):
    calls = []
    c = k.kmem_cache_create("ctored", 100, 0, 0, lambda kern, obj, cache, flags: calls.append((obj, flags)))
    first = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert len(calls) == c.num
    assert {f for _, f in calls} == {SLAB_CTOR_CONSTRUCTOR}
    assert first in {obj for obj, _ in calls}
    more = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(c.num - 1)]
    assert len(calls) == c.num                 # not per allocation
    k.kmem_cache_free(c, more[0])
    k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert len(calls) == c.num                 # nor per reuse
    k.kmem_cache_alloc(c, G.GFP_KERNEL)        # slab full: a second one grows
    assert len(calls) == 2 * c.num
    assert len({obj for obj, _ in calls}) == 2 * c.num


def test_constructor_gets_slab_ctor_atomic_without_gfp_wait(k):
    calls = []
    c = k.kmem_cache_create("ctoratomic", 2000, 0, 0, lambda kern, obj, cache, flags: calls.append(flags))
    k.kmem_cache_alloc(c, G.GFP_ATOMIC)
    assert calls == [SLAB_CTOR_CONSTRUCTOR | SLAB_CTOR_ATOMIC] * c.num


def test_destructor_runs_when_slab_pages_are_freed(k):
    dtor_calls = []
    c = k.kmem_cache_create("dtored", 500, 0, 0, lambda *a: None,
                            lambda kern, obj, cache, flags: dtor_calls.append((obj, flags)))
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(3 * c.num)]
    slabs = c.slab_counts()[0]
    for o in objs:
        k.kmem_cache_free(c, o)
    assert dtor_calls == []                    # objects only went back to the arrays
    assert k.kmem_cache_shrink(c) == 0
    assert len(dtor_calls) == slabs * c.num
    assert {f for _, f in dtor_calls} == {0}
    assert set(objs) <= {o for o, _ in dtor_calls}


# --------------------------------------------------------------------------- reaping


def _fill_and_free(k, c, n):
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(n)]
    for o in objs:
        k.kmem_cache_free(c, o)


def test_slab_no_reap_cache_keeps_free_slabs_through_cache_reap_and_shrink_slab(kernel, clock):
    k = kernel(mem=64 << 20, cpus=2)
    keep = k.kmem_cache_create("noreap", 200, 0, SLAB_NO_REAP)
    reap = k.kmem_cache_create("reaped", 200, 0, 0)
    for c in (keep, reap):
        _fill_and_free(k, c, 1000)   # overflows the arrays: some slabs end up free
        num_slabs, active_slabs, _, _ = c.slab_counts()
        assert num_slabs > active_slabs
    kept = keep.slab_counts()
    for _ in range(20):
        clock.advance(5.0)
        k.cache_reap()
    assert keep.slab_counts() == kept
    assert reap.slab_counts() == (0, 0, 0, 0) and in_arrays(reap) == 0
    k.shrink_slab(G.GFP_KERNEL)
    assert keep.slab_counts() == kept
    # an explicit kmem_cache_shrink still empties it
    assert k.kmem_cache_shrink(keep) == 0
    assert keep.slab_counts() == (0, 0, 0, 0)


def test_cache_reap_leaves_arrays_that_were_touched_since_the_last_pass(kernel, clock):
    k = kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("touchy", 64, 0, 0)
    _fill_and_free(k, c, 50)
    parked = len(c.array[0].entry)   # the 50 freed plus what the last refill prefetched
    assert parked >= 50
    clock.advance(5.0)
    k.cache_reap()                 # touched by the allocations: only untouched now
    assert len(c.array[0].entry) == parked
    clock.advance(5.0)
    k.cache_reap()                 # drains (limit + 4) / 5 = 24 objects
    assert len(c.array[0].entry) == parked - (120 + 4) // 5


# mm/slab.c drain_array (2.6.18), called by cache_reap with force = 0:
#     if (ac->touched && !force) {
#             ac->touched = 0;
#     } else {
#             tofree = force ? ac->avail : (ac->limit + 4) / 5;
#             if (tofree > ac->avail)
#                     tofree = (ac->avail + 1) / 2;
#             free_block(...); ac->avail -= tofree;
#     }
# (limit, batchcount) of each case, then avail parked and what one drain leaves:
#   limit 120 (enable_cpucache, objects <= 256 bytes): tofree = 124 / 5 = 24
#   limit 54 (objects of 257..1024 bytes):               tofree = 58 / 5 = 11
#   limit 26 (tuned through /proc/slabinfo):             tofree = 30 / 5 = 6
REAP_DRAIN = [
    # size, limit, batchcount, avail, left
    (64, 120, 60, 25, 1),      # above: 24 freed
    (64, 120, 60, 24, 0),      # equal: tofree 24 is not > avail, all 24 freed
    (64, 120, 60, 23, 11),     # below: 24 > 23, so (23 + 1) / 2 = 12 freed
    (512, 54, 27, 12, 1),      # 11 freed
    (512, 54, 27, 11, 0),
    (512, 54, 27, 10, 5),      # (10 + 1) / 2 = 5 freed
    (64, 26, 13, 7, 1),        # 6 freed ((26 + 3) / 5 would be 5)
    (64, 26, 13, 6, 0),
    (64, 26, 13, 5, 2),        # (5 + 1) / 2 = 3 freed
]


def _park(k, c, n):
    """Leave exactly n of c's objects in the per-CPU array of CPU 0 (n <= limit):
    allocate them, drain the arrays of what the refills prefetched, free them."""
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(n)]
    assert k.kmem_cache_shrink(c) == 1             # drain_cpu_caches; the n are still out
    assert k.cpu_objects(c) == 0
    for o in objs:
        k.kmem_cache_free(c, o)


@pytest.mark.parametrize("size, limit, batchcount, avail, left", REAP_DRAIN)
def test_cache_reap_drains_a_fifth_of_the_limit_or_half_of_a_smaller_array(
        kernel, clock, size, limit, batchcount, avail, left):
    """drain_array (mm/slab.c, 2.6.18) through cache_reap: an untouched per-CPU array
    gives back (limit + 4) / 5 objects, or (avail + 1) / 2 when it holds fewer; an
    array touched since the last pass is only marked untouched."""
    k = kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("reapme", size, 0, 0)
    # no shared array: the per-CPU array is all that cache_reap drains
    assert k.slabinfo_write(f"reapme {limit} {batchcount} 0".encode()) == 0
    assert slabinfo_row(k, "reapme")[5:8] == (limit, batchcount, 0)
    _park(k, c, avail)
    assert k.cpu_objects(c) == avail == slabinfo_row(k, "reapme")[0]  # parked objects are active
    clock.advance(2.0)                  # REAPTIMEOUT_CPUC
    k.cache_reap()                      # touched by the allocations: untouched, nothing freed
    assert k.cpu_objects(c) == avail
    clock.advance(2.0)
    k.cache_reap()
    assert k.cpu_objects(c) == left
    assert slabinfo_row(k, "reapme")[0] == left


def test_repeated_reaps_halve_an_array_smaller_than_a_fifth_of_its_limit(kernel, clock):
    """drain_array (mm/slab.c, 2.6.18): with avail below (limit + 4) / 5 every pass
    frees (avail + 1) / 2, so 23 objects go 23 -> 11 -> 5 -> 2 -> 1 -> 0."""
    k = kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("halving", 64, 0, 0)
    assert k.slabinfo_write(b"halving 120 60 0") == 0
    _park(k, c, 23)
    clock.advance(2.0)
    k.cache_reap()                      # untouched only
    seen = [k.cpu_objects(c)]
    for _ in range(5):
        clock.advance(2.0)
        k.cache_reap()
        seen.append(k.cpu_objects(c))
    assert seen == [23, 11, 5, 2, 1, 0]


@pytest.mark.parametrize("shared_avail, left", [(7, 1), (6, 0), (5, 2)])
def test_cache_reap_drains_the_shared_array_once_per_reaptimeout_list3(
        kernel, clock, shared_avail, left):
    """cache_reap (mm/slab.c, 2.6.18): the node's shared array is drained, by the same
    drain_array rule, only when `time_after(l3->next_reap, jiffies)` is false, and
    then next_reap = jiffies + REAPTIMEOUT_LIST3 (4 s). Tuned to limit 26, batchcount 1,
    shared 26: per-CPU limit 26 and a shared array of 26 * 1 entries, so both drain
    (26 + 4) / 5 = 6 at a time; each free into a full per-CPU array moves
    batchcount = 1 object to the shared array (cache_flusharray)."""
    k = kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("sharedreap", 64, 0, 0)
    assert k.slabinfo_write(b"sharedreap 26 1 26") == 0
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(26 + shared_avail)]
    assert k.kmem_cache_shrink(c) == 1
    # t = 8 s: past any first next_reap (2.6.18 sets it to jiffies + REAPTIMEOUT_LIST3 +
    # an offset below REAPTIMEOUT_LIST3), so the node is reaped; next_reap = 12 s
    clock.advance(8.0)
    k.cache_reap()
    for o in objs:
        k.kmem_cache_free(c, o)
    row = slabinfo_row(k, "sharedreap")
    assert row[5:8] == (26, 1, 26) and row[10] == shared_avail   # sharedavail column
    assert k.cpu_objects(c) == 26 + shared_avail
    clock.advance(2.0)                  # t = 10: the per-CPU array is untouched; the node waits
    k.cache_reap()
    assert slabinfo_row(k, "sharedreap")[10] == shared_avail
    assert k.cpu_objects(c) == 26 + shared_avail
    clock.advance(2.0)                  # t = 12 = next_reap: not after jiffies, so reap
    k.cache_reap()
    assert slabinfo_row(k, "sharedreap")[10] == left
    assert k.cpu_objects(c) == 26 - 6 + left


def test_active_objs_counts_per_cpu_arrays_until_kmem_cache_shrink(k):
    c = k.kmem_cache_create("arrays", 256, 0, 0)
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(100)]
    k.set_current(1)                           # free some on the other CPU
    for o in objs[:30]:
        k.kmem_cache_free(c, o)
    k.set_current(0)
    for o in objs[30:60]:
        k.kmem_cache_free(c, o)
    active = slabinfo_row(k, "arrays")[0]
    assert active - in_arrays(c) == len(c.live) == 40
    assert active > 40
    assert k.kmem_cache_shrink(c) == 1         # objects remain
    assert slabinfo_row(k, "arrays")[0] == len(c.live) == 40
    assert in_arrays(c) == 0


def test_kmem_cache_destroy_with_live_objects_fails_and_logs(k):
    before_free = k.nr_free_pages()
    c = k.kmem_cache_create("leaky", 300, 0, 0)
    obj = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert k.kmem_cache_destroy(c) == 1
    assert k.log.grep("slab error in kmem_cache_destroy(): cache `leaky': Can't free all objects")
    assert k.find_cache("leaky") is c and k.cache_chain[0] is c
    k.kmem_cache_free(c, obj)
    assert k.kmem_cache_destroy(c) == 0
    assert k.find_cache("leaky") is None
    assert "leaky" not in procfs.slabinfo(k)
    k.drain_all_pages()
    assert k.nr_free_pages() == before_free
    assert k.kmem_cache_create("leaky", 300, 0, 0) is not None  # the name is free again


def test_kmem_cache_shrink_returns_1_while_objects_remain(k):
    c = k.kmem_cache_create("shrinky", 64, 0, 0)
    obj = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert k.kmem_cache_shrink(c) == 1
    assert c.slab_counts()[0] == 1
    k.kmem_cache_free(c, obj)
    assert k.kmem_cache_shrink(c) == 0
    assert c.slab_counts() == (0, 0, 0, 0)


# --------------------------------------------------------------------------- slabinfo_write


def test_slabinfo_write_tunes_limit_batchcount_and_shared(k):
    assert k.slabinfo_write(b"size-64 60 30 4\n") == 0
    assert slabinfo_row(k, "size-64")[5:8] == (60, 30, 4)
    c = k.find_cache("size-64")
    assert all(ac.limit == 60 and ac.batchcount == 30 for ac in c.array)


def test_slabinfo_write_moves_parked_objects_back_to_their_slabs(k):
    c = k.kmem_cache_create("retune", 128, 0, 0)
    _fill_and_free(k, c, 40)
    assert in_arrays(c) >= 40
    assert k.slabinfo_write(b"retune 10 5 0") == 0
    assert in_arrays(c) == 0 and c.slab_counts()[3] == 0


def test_slabinfo_write_unknown_cache_is_einval(k):
    assert k.slabinfo_write(b"no-such-cache 60 30 4\n") == errno.EINVAL


@pytest.mark.parametrize("data", [b"size-64", b"size-64 60 30", b"size-64 a b c", b"",
                                  b"size-64 " + b"1 " * 70])
def test_slabinfo_write_malformed_is_einval(k, data):
    assert k.slabinfo_write(data) == errno.EINVAL
    assert slabinfo_row(k, "size-64")[5:8] == (120, 60, 8)


@pytest.mark.parametrize("data", [b"size-64 0 1 1", b"size-64 10 0 1", b"size-64 10 11 1",
                                  b"size-64 10 5 -1"])
def test_slabinfo_write_out_of_range_values_are_ignored_and_return_0(k, data):
    assert k.slabinfo_write(data) == 0
    assert slabinfo_row(k, "size-64")[5:8] == (120, 60, 8)


# --------------------------------------------------------------------------- bad frees


def _state(k, c):
    return (c.slab_counts(), sorted(c.live), [list(ac.entry) for ac in c.array], c.shared_avail())


def test_double_free_is_logged_and_changes_nothing(k):
    c = k.kmem_cache_create("df", 64, 0, 0)
    obj = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    keep = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    k.kmem_cache_free(c, obj)
    before = _state(k, c)
    k.kmem_cache_free(c, obj)
    assert k.log.grep("double free")
    assert _state(k, c) == before and c.errors == 0   # STATS_INC_ERR is never called
    assert keep in c.live


def test_freeing_an_object_into_the_wrong_cache_is_logged(k):
    a = k.kmem_cache_create("cache-a", 64, 0, 0)
    b = k.kmem_cache_create("cache-b", 64, 0, 0)
    obj = k.kmem_cache_alloc(b, G.GFP_KERNEL)
    before_a, before_b = _state(k, a), _state(k, b)
    k.kmem_cache_free(a, obj)
    assert k.log.grep("kernel BUG at mm/slab.c:3434!")   # BUG_ON(virt_to_cache(objp) != cachep)
    assert _state(k, a) == before_a and _state(k, b) == before_b
    k.kmem_cache_free(b, obj)                  # the owner can still free it
    assert obj not in b.live


def test_freeing_the_middle_of_an_object_is_logged(k):
    c = k.kmem_cache_create("mid", 64, 0, 0)
    obj = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    before = _state(k, c)
    k.kmem_cache_free(c, obj + 8)
    k.kfree(obj + 8)
    assert len(k.log.grep("not the start of an object")) == 2
    assert _state(k, c) == before


def test_kfree_of_a_non_slab_address_is_logged_not_raised(k):
    c = k.find_cache("size-64")
    before = _state(k, c)
    pfn = k.alloc_pages(G.GFP_KERNEL, 0)
    assert k.mem_map[pfn] is PAGES
    k.kfree(pfn << 12)
    k.kmem_cache_free(c, pfn << 12)
    k.kfree(1 << 40)                           # beyond the end of memory
    k.kfree(-4096)
    assert len(k.log.grep("kernel BUG at mm/slab.c")) == 4
    assert _state(k, c) == before
    assert k.mem_map[pfn] is PAGES and k.free_pages_pfn(pfn, 0)


def test_objects_live_inside_their_slab_pages(k):
    c = k.kmem_cache_create("where", 700, 0, 0)
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(3 * c.num)]
    for o in objs:
        slab = k.mem_map[o >> 12]
        assert isinstance(slab, Slab) and slab.cache is c
        assert (o - slab.s_mem) % c.buffer_size == 0
        assert slab.addr <= o and o + c.buffer_size <= slab.addr + (4096 << c.gfporder)
    assert len(set(objs)) == len(objs)


def test_slabinfo_write_of_arrays_larger_than_kmalloc_can_give_is_enomem(kernel):
    import errno as _errno
    k = kernel(mem=32 << 20)
    before = (k.find_cache("size-64").limit, k.find_cache("size-64").shared)
    assert k.slabinfo_write(b"size-64 1000000000 1 0\n") == _errno.ENOMEM
    assert (k.find_cache("size-64").limit, k.find_cache("size-64").shared) == before
    assert k.slabinfo_write(b"size-64 120 60 1000000000\n") == _errno.ENOMEM
    # alloc_kmemlist failed after the tunables were set: printk and BUG
    assert k.log.grep("alloc_kmemlist failed for size-64, error 12.")
    assert k.log.grep("kernel BUG at mm/slab.c:3642!")
    assert (k.find_cache("size-64").limit, k.find_cache("size-64").shared) == (120, 1000000000)
