"""SLAB against the 2.6.18 source (rocklee104/linux-2.6.18 at 4ba3a12d, mm/slab.c,
include/linux/kmalloc_sizes.h, include/linux/poison.h, mm/util.c): one differential
test per item of issue 12 that SLAB owns, and a lock-step model of SLAB's lists and
arrays written from the source, independently of allocator/slab.py."""
from __future__ import annotations

import errno
import random
import re
import subprocess
from pathlib import Path

import pytest

from allocator import gfp as G
from allocator import procfs
from allocator.kernel import Kernel
from allocator.printk import KERN_WARNING
from allocator.slab import (
    SLAB_CACHE_DMA,
    SLAB_CTOR_ATOMIC,
    SLAB_CTOR_CONSTRUCTOR,
    SLAB_HWCACHE_ALIGN,
    SLAB_NO_REAP,
    SLAB_POISON,
    SLAB_RED_ZONE,
)

PAGE = 4096
# include/linux/kmalloc_sizes.h with PAGE_SIZE 4096 and L1_CACHE_BYTES 64 (CONFIG_X86_L1_CACHE_SHIFT=6):
# CACHE(96) needs L1_CACHE_BYTES < 64, CACHE(192) L1_CACHE_BYTES < 128
KMALLOC_SIZES_2618 = [32, 64, 128, 192, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
# include/linux/poison.h
RED_INACTIVE, RED_ACTIVE = 0x5A2CF071, 0x170FC2A5
POISON_INUSE, POISON_FREE, POISON_END = 0x5A, 0x6B, 0xA5
# i386 SMP structure sizes, from the struct definitions in mm/slab.c (spinlock_t: 4 bytes)
SIZEOF_ARRAY_CACHE = 4 * 4 + 4            # avail, limit, batchcount, touched, lock
SIZEOF_KMEM_LIST3 = 3 * 8 + 4 * 3 + 4 + 4 * 4   # 3 list_heads, 3 counters, lock, shared, alien, next_reap, free_touched
NR_CPUS = 8                               # arch/i386/Kconfig default

SLABINFO = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) : tunables\s+(\d+)\s+(\d+)\s+(\d+)"
                      r" : slabdata\s+(\d+)\s+(\d+)\s+(\d+)")
MIRROR = Path("/work/.mirror/rocklee104+linux-2.6.18/repo")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def row(k, name):
    for line in procfs.slabinfo(k).splitlines()[2:]:
        m = SLABINFO.match(line)
        if m and m.group(1) == name:
            return tuple(int(x) for x in m.groups()[1:])
    raise LookupError(name)


def kmalloc_class(size):
    """__find_general_cachep: the first class at least `size`."""
    return next(c for c in KMALLOC_SIZES_2618 if size <= c)


def tunables(buffer_size, smp=True):
    """enable_cpucache: (limit, batchcount, shared)."""
    if buffer_size > 131072:
        limit = 1
    elif buffer_size > PAGE:
        limit = 8
    elif buffer_size > 1024:
        limit = 24
    elif buffer_size > 256:
        limit = 54
    else:
        limit = 120
    shared = 8 if smp and buffer_size <= PAGE else 0
    return limit, (limit + 1) // 2, shared


# --------------------------------------------------------------------------- item 5: size-192


def test_general_caches_are_kmalloc_sizes_h_for_a_64_byte_line():
    k = Kernel(mem=64 << 20)
    names = {c.name for c in k.cache_chain}
    for size in KMALLOC_SIZES_2618:
        assert f"size-{size}" in names and f"size-{size}(DMA)" in names
    assert "size-96" not in names and "size-96(DMA)" not in names
    # real 2.6 i386 slabinfo: size-192 192 20 1
    assert row(k, "size-192")[2:5] == (192, 20, 1)
    for size in (150, 192):
        assert k.cache_of(k.kmalloc(size, G.GFP_KERNEL)).name == "size-192"
    assert k.cache_of(k.kmalloc(193, G.GFP_KERNEL)).name == "size-256"
    k.close()


# --------------------------------------------------------------------------- item 8: metadata


def boot_chain_2618():
    """kmem_cache_init's creation order: cache_cache, INDEX_AC (sizeof(struct
    arraycache_init) = 24: size-32), INDEX_L3 (56: size-64), then each size and its DMA
    twin (the normal cache only if not made yet)."""
    order = ["kmem_cache", "size-32", "size-64"]
    for size in KMALLOC_SIZES_2618:
        if f"size-{size}" not in order:
            order.append(f"size-{size}")
        order.append(f"size-{size}(DMA)")
    return order


def test_boot_order_of_the_general_caches_follows_kmem_cache_init():
    k = Kernel(mem=64 << 20)
    oldest_first = [c.name for c in reversed(k.cache_chain)]
    assert oldest_first == boot_chain_2618()
    # slabinfo prints the chain from its head: newest first, kmem_cache last
    assert procfs.slabinfo(k).splitlines()[-1].startswith("kmem_cache ")
    k.close()


def expected_metadata(cpus, nodes, max_numnodes=1):
    """Live objects per kmalloc class after boot: each cache's per-CPU arrays
    (alloc_arraycache: 20 + 4 * limit), per node its shared array (20 + 4 * shared *
    batchcount, also for shared 0) and kmem_list3 (56), on NUMA the alien pointer array
    (4 * MAX_NUMNODES) and an alien array_cache of 12 entries per other node; and each
    descriptor (but cache_cache's) is a kmem_cache object."""
    size_kmem_cache = 4 * NR_CPUS + 16 + 4 * max_numnodes + 56   # struct kmem_cache, no STATS
    if nodes > 1:
        size_kmem_cache = 4 * 32 + 16 + 4 * max_numnodes + 56     # NR_CPUS 32 on a NUMA config
    buffer_sizes = [(size_kmem_cache + 63) // 64 * 64] + [s for s in KMALLOC_SIZES_2618 for _ in (0, 1)]
    live = {}

    def take(size):
        name = f"size-{kmalloc_class(size)}"
        live[name] = live.get(name, 0) + 1
    for bs in buffer_sizes:
        limit, batch, shared = tunables(bs)
        for _ in range(cpus):
            take(SIZEOF_ARRAY_CACHE + 4 * limit)
        for _ in range(nodes):
            take(SIZEOF_ARRAY_CACHE + 4 * shared * batch)
            take(SIZEOF_KMEM_LIST3)
            if nodes > 1:
                take(4 * max_numnodes)
                for _ in range(nodes - 1):
                    take(SIZEOF_ARRAY_CACHE + 4 * (12 if limit > 1 else limit))
    live["kmem_cache"] = len(buffer_sizes) - 1
    return live, buffer_sizes[0]


def descriptors(k):
    """The struct slab of each slab of an off-slab cache is kmalloc'd as well
    (alloc_slabmgmt): counted from the slabs, per kmalloc class."""
    out = {}
    for c in k.cache_chain:
        for l3 in c.nodelists:
            for lst in l3.lists:
                for slab in lst:
                    if slab.mgmt is not None:
                        name = k.cache_of(slab.mgmt).name
                        out[name] = out.get(name, 0) + 1
    return out


@pytest.mark.parametrize("cpus, nodes", [(1, 1), (2, 1), (4, 1), (2, 2)])
def test_slab_metadata_is_kmalloced_as_2_6_18_does(cpus, nodes):
    k = Kernel(mem=64 << 20, cpus=cpus, nodes=nodes)
    expected, cache_cache_size = expected_metadata(cpus, nodes, 8 if nodes > 1 else 1)
    for name, n in descriptors(k).items():
        expected[name] = expected.get(name, 0) + n
    got = {c.name: len(c.live) for c in k.cache_chain if c.live}
    assert got == expected
    assert row(k, "kmem_cache")[2] == cache_cache_size      # objsize: ALIGN(sizeof(struct kmem_cache), 64)
    # a new cache costs a descriptor, its arrays, a shared array and a kmem_list3
    d = descriptors(k)
    before = {c.name: len(c.live) - d.get(c.name, 0) for c in k.cache_chain}
    c = k.kmem_cache_create("meta", 300, 0, 0)
    limit, batch, shared = tunables(300)
    d = descriptors(k)
    after = {x.name: len(x.live) - d.get(x.name, 0) for x in k.cache_chain if x is not c}
    delta = {n: after[n] - before[n] for n in after if after[n] != before[n]}
    want = {"kmem_cache": 1}
    for size in [SIZEOF_ARRAY_CACHE + 4 * limit] * cpus + \
            [SIZEOF_ARRAY_CACHE + 4 * shared * batch, SIZEOF_KMEM_LIST3] * nodes:
        name = f"size-{kmalloc_class(size)}"
        want[name] = want.get(name, 0) + 1
    if nodes > 1:
        for size in [32] * nodes + [SIZEOF_ARRAY_CACHE + 48] * nodes * (nodes - 1):
            name = f"size-{kmalloc_class(size)}"
            want[name] = want.get(name, 0) + 1
    assert delta == want
    assert k.kmem_cache_destroy(c) == 0
    d = descriptors(k)
    assert {x.name: len(x.live) - d.get(x.name, 0) for x in k.cache_chain} == before
    k.close()


def test_free_limit_of_boot_caches_is_set_before_the_last_cpu_is_online():
    # enable_cpucache runs before smp_init; cpuup_callback (CPU_UP_PREPARE) sets
    # free_limit before the new CPU is online: the last one sees cpus - 1 online,
    # (1 + cpus - 1) * batchcount + num. A cache made later: (1 + cpus) * ...
    k = Kernel(mem=64 << 20, cpus=4)
    s64 = k.find_cache("size-64")
    assert s64.nodelists[0].free_limit == (1 + 3) * 60 + 59
    c = k.kmem_cache_create("late", 64, 0, SLAB_HWCACHE_ALIGN)
    assert c.nodelists[0].free_limit == (1 + 4) * 60 + 59
    k.close()


# --------------------------------------------------------------------------- item 3: gfp


def test_gfp_zero_bugs_in_cache_grow_and_an_array_hit_keeps_stale_bytes():
    k = Kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("z", 100, 0, 0)
    assert k.kmem_cache_alloc(c, G.GFP_KERNEL | G.__GFP_ZERO) is None
    assert k.log.grep("kernel BUG at mm/slab.c:2602!")
    assert c.slab_counts() == (0, 0, 0, 0)
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    k.mem.fill(objp, 100, 0x33)
    k.kmem_cache_free(c, objp)
    again = k.kmem_cache_alloc(c, G.GFP_KERNEL | G.__GFP_ZERO)
    assert again == objp and bytes(k.mem.read(again, 100)) == b"\x33" * 100
    k.close()


def test_kzalloc_is_kmalloc_and_a_memset_of_size():
    k = Kernel(mem=64 << 20, cpus=1)
    objp = k.kmalloc(150, G.GFP_KERNEL)
    k.mem.fill(objp, 192, 0x44)
    k.kfree(objp)
    z = k.kzalloc(150, G.GFP_KERNEL)
    assert z == objp
    assert bytes(k.mem.read(z, 150)) == bytes(150) and bytes(k.mem.read(z + 150, 42)) == b"\x44" * 42
    k.close()


def test_gfp_dma_on_a_normal_cache_and_a_dma_cache_without_it_are_kmem_flagcheck_bugs():
    k = Kernel(mem=64 << 20, cpus=1)
    plain = k.kmem_cache_create("plain", 100, 0, 0)
    dma = k.kmem_cache_create("dmac", 100, 0, SLAB_CACHE_DMA)
    assert k.kmem_cache_alloc(plain, G.GFP_KERNEL | G.__GFP_DMA) is None
    assert k.log.grep("kernel BUG at mm/slab.c:2519!")
    assert k.kmem_cache_alloc(dma, G.GFP_KERNEL) is None
    assert k.log.grep("kernel BUG at mm/slab.c:2521!")
    objp = k.kmem_cache_alloc(dma, G.GFP_KERNEL | G.__GFP_DMA)
    assert objp is not None and k.zone_of(objp >> 12).name == "DMA"
    k.close()


def test_gfp_no_grow_makes_cache_grow_return_0():
    k = Kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("ng", 100, 0, 0)
    records = len(k.log.records)
    assert k.kmem_cache_alloc(c, G.GFP_KERNEL | G.__GFP_NO_GROW) is None
    assert len(k.log.records) == records and c.grown == 0
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert k.kmem_cache_alloc(c, G.GFP_KERNEL | G.__GFP_NO_GROW) not in (None, objp)   # refilled batch
    k.close()


def test_kmalloc_gfp_highmem_bugs_only_in_cache_grow():
    k = Kernel(mem=1 << 30, cpus=1)
    objp = k.kmalloc(150, G.GFP_KERNEL)
    k.kfree(objp)
    assert k.kmalloc(150, G.GFP_HIGHUSER) == objp          # an array hit: no check at all
    assert not k.log.grep("kernel BUG")
    assert k.kmalloc(3000, G.GFP_HIGHUSER) is None         # size-4096 must grow
    assert k.log.grep("kernel BUG at mm/slab.c:2602!")
    k.close()


def test_bug_is_logged_as_i386_prints_it():
    k = Kernel(mem=64 << 20, cpus=1)
    k.set_current(77, "bugger")
    c = k.kmem_cache_create("b", 100, 0, 0)
    k.kmem_cache_alloc(c, G.GFP_ATOMIC | G.__GFP_ZERO)
    texts = [r.text for r in k.log.records][-6:]
    assert texts == ["------------[ cut here ]------------", "kernel BUG at mm/slab.c:2602!",
                     "invalid opcode: 0000 [#1]", "SMP ", "CPU:    0", "Process bugger (pid: 77)"]
    k.close()


@pytest.mark.skipif(not MIRROR.exists(), reason="the 2.6.18 mirror is not on this machine")
def test_bug_line_numbers_are_the_lines_of_the_source():
    import allocator.slab as SL
    source = subprocess.run(["git", "-C", str(MIRROR), "show", "4ba3a12d:mm/slab.c"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    expect = {"BUG_CACHE_GROW": "BUG_ON(flags & ~(SLAB_DMA | SLAB_LEVEL_MASK | SLAB_NO_GROW));",
              "BUG_FLAGCHECK_DMA": "BUG_ON(!(cachep->gfpflags & GFP_DMA));",
              "BUG_FLAGCHECK_NODMA": "BUG_ON(cachep->gfpflags & GFP_DMA);",
              "BUG_CREATE_MASK": "BUG_ON(flags & ~CREATE_MASK);",
              "BUG_CACHE_FREE": "BUG_ON(virt_to_cache(objp) != cachep);",
              "BUG_PAGE_GET_CACHE": "BUG_ON(!PageSlab(page));",
              "BUG_CREATE_EARLY": "BUG();",
              "BUG_TUNE_KMEMLIST": "BUG();",
              "BUG_CREATE_RCU_DTOR": "BUG_ON(dtor);"}
    for name, text in expect.items():
        assert source[getattr(SL, name) - 1].strip() == text, name


# --------------------------------------------------------------------------- item 11: API edges


def test_kmem_cache_create_checks_what_2_6_18_checks():
    k = Kernel(mem=64 << 20, cpus=1)
    assert k.kmem_cache_create("tiny", 3, 0, 0) is None      # size < BYTES_PER_WORD
    assert k.log.grep("kmem_cache_create: Early error in slab tiny")
    assert k.log.grep("kernel BUG at mm/slab.c:2006!")
    assert k.kmem_cache_create("huge", 32 * PAGE + 1, 0, 0) is None
    assert k.kmem_cache_create("a name with spaces", 64, 0, 0) is not None
    assert k.kmem_cache_create("odd-align", 64, 24, 0).align == 24     # no power-of-two check
    # without DEBUG the debugging flags are outside CREATE_MASK
    assert k.kmem_cache_create("poisoned", 64, 0, SLAB_POISON) is None
    assert k.log.grep("kernel BUG at mm/slab.c:2073!")
    assert k.kmem_cache_create("noreap", 64, 0, SLAB_NO_REAP) is not None   # kept (deviations.md)
    k.close()


def test_duplicate_name_is_a_default_level_printk_and_null():
    k = Kernel(mem=64 << 20, cpus=1)
    k.kmem_cache_create("dup", 64, 0, 0)
    assert k.kmem_cache_create("dup", 64, 0, 0) is None
    rec = [r for r in k.log.records if r.text == "kmem_cache_create: duplicate cache dup"]
    assert len(rec) == 1 and rec[0].level == KERN_WARNING   # default_message_loglevel 4
    k.close()


def test_destroy_returns_0_or_1_and_ksize_is_obj_size():
    k = Kernel(mem=64 << 20, cpus=1)
    c = k.kmem_cache_create("hw", 100, 0, SLAB_HWCACHE_ALIGN)
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert k.ksize(objp) == 128             # obj_size() is buffer_size without DEBUG
    assert k.kmem_cache_destroy(c) == 1
    k.kmem_cache_free(c, objp)
    assert k.kmem_cache_destroy(c) == 0
    records = len(k.log.records)
    assert k.kmalloc(131073, G.GFP_KERNEL) is None and len(k.log.records) == records
    k.close()
    kd = Kernel(mem=64 << 20, cpus=1, slab_debug=True)
    c = kd.kmem_cache_create("hw", 102, 0, SLAB_HWCACHE_ALIGN)
    assert kd.ksize(kd.kmem_cache_alloc(c, G.GFP_KERNEL)) == 104   # DEBUG: cachep->obj_size (word-aligned)
    kd.close()


# --------------------------------------------------------------------------- item 15


def test_an_smp_kernel_on_one_cpu_keeps_shared_8_and_an_impossible_shared_array_bugs():
    k = Kernel(mem=64 << 20, cpus=1)
    assert row(k, "size-64")[5:8] == (120, 60, 8)
    assert k.slabinfo_write(b"size-64 120 60 2000\n") == errno.ENOMEM   # 20 + 4*120000 > 128K
    assert k.log.grep("alloc_kmemlist failed for size-64, error 12.")
    assert k.log.grep("kernel BUG at mm/slab.c:3642!")
    k.close()


# --------------------------------------------------------------------------- item 9: debugging


def word(k, addr):
    return int.from_bytes(bytes(k.mem.read(addr, 4)), "little")


def test_debug_red_zones_are_one_word_with_the_2_6_18_magic():
    k = Kernel(mem=64 << 20, cpus=1, slab_debug=True)
    c = k.kmem_cache_create("rz", 100, 0, 0)
    # FORCED_DEBUG: RED_ZONE|STORE_USER|POISON; 4 + 100 + 4 + 4 bytes, word aligned
    assert (c.buffer_size, c.obj_offset, c.obj_size) == (112, 4, 100)
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    slot = objp - 4
    assert word(k, slot) == RED_ACTIVE and word(k, slot + 112 - 8) == RED_ACTIVE
    assert bytes(k.mem.read(objp, 100)) == bytes([POISON_INUSE]) * 99 + bytes([POISON_END])
    k.kmem_cache_free(c, objp)
    assert word(k, slot) == RED_INACTIVE and word(k, slot + 104) == RED_INACTIVE
    assert bytes(k.mem.read(objp, 100)) == bytes([POISON_FREE]) * 99 + bytes([POISON_END])
    # the general caches are word aligned with DEBUG: 32 + 2 red zones + last user
    assert k.find_cache("size-32").buffer_size == 44
    # a caller's alignment above a word disables red zoning and last-user
    al = k.kmem_cache_create("al8", 100, 8, 0)
    assert not al.flags & SLAB_RED_ZONE and al.flags & SLAB_POISON
    k.close()


def test_debug_constructor_runs_at_alloc_and_destructor_at_free_for_poison_caches():
    k = Kernel(mem=64 << 20, cpus=1, slab_debug=True)
    calls = []
    c = k.kmem_cache_create("cd", 64, 0, 0, lambda s, o, c, f: calls.append(("ctor", o, f)),
                            lambda s, o, c, f: calls.append(("dtor", o, f)))
    objp = k.kmem_cache_alloc(c, G.GFP_ATOMIC)
    assert calls == [("ctor", objp, SLAB_CTOR_CONSTRUCTOR | SLAB_CTOR_ATOMIC)]   # none at grow
    k.kmem_cache_free(c, objp)
    assert calls[1:] == [("dtor", objp, 0)]
    k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert calls[2] == ("ctor", objp, SLAB_CTOR_CONSTRUCTOR)
    k.close()


def test_debug_corruption_report_is_2_6_18s():
    k = Kernel(mem=64 << 20, cpus=1, slab_debug=True)
    c = k.kmem_cache_create("uaf", 100, 0, 0)
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(3)]
    k.kmem_cache_free(c, objs[1])
    k.mem.write(objs[1] + 20, b"\x00")                 # a write after free
    first = len(k.log.records)
    assert k.kmem_cache_alloc(c, G.GFP_KERNEL) == objs[1]
    texts = [r.text for r in list(k.log.records)[first:]]
    start = f"{0xC0000000 + objs[1]:08x}"
    assert texts[0] == f"Slab corruption: start={start}, len=100"
    assert texts[1] == f"Redzone: 0x{RED_INACTIVE:x}/0x{RED_INACTIVE:x}."
    assert texts[2].startswith("Last user: [<")
    assert texts[3] == "010: " + " ".join(["6b"] * 4 + ["00"] + ["6b"] * 11)
    # the refill took objects 0..15 and the array hands out the last first: objs are
    # objects 15, 14, 13; the corrupted one (14) has 13 before it and 15 after it
    assert texts[4] == f"Prev obj: start={0xC0000000 + objs[2]:08x}, len=100"
    assert texts[5] == f"Redzone: 0x{RED_ACTIVE:x}/0x{RED_ACTIVE:x}."
    assert texts[7].startswith("000: 5a 5a") and texts[8].startswith("010: 5a")
    assert texts[9] == f"Next obj: start={0xC0000000 + objs[0]:08x}, len=100"
    assert not any("uaf" in t for t in texts[:10])     # no cache name in 2.6.18's report
    k.close()


def test_statistics_columns_have_s_shows_format():
    k = Kernel(mem=64 << 20, cpus=1, slab_debug=True)
    c = k.kmem_cache_create("st", 100, 0, 0)
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(5)]
    for o in objs:
        k.kmem_cache_free(c, o)
    line = next(x for x in procfs.slabinfo(k).splitlines() if x.startswith("st "))
    tail = line[line.index(" : globalstat"):]
    # " : globalstat %7lu %6lu %5lu %4lu \<newline>\t\t\t\t%4lu %4lu %4lu %4lu %4lu"
    # allocs: objects refilled from slabs (one batch, limit 32 with DEBUG: 16), high: of num_active
    assert tail.startswith(" : globalstat      16     16     1    0 \t\t\t\t   0    0    0    0    0")
    assert tail.endswith(" : cpustat      4      1      5      0")
    k.close()


# --------------------------------------------------------------------------- item 13: alien caches


def test_remote_frees_go_through_the_alien_cache():
    k = Kernel(mem=64 << 20, nodes=2, cpus=2)           # cpu 0 on node 0, cpu 1 on node 1
    c = k.kmem_cache_create("alien", 100, 0, 0)
    k.set_current(0, "node0")
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(20)]
    assert all(k.slab_node_of(o) == 0 for o in objs)
    k.set_current(1, "node1")
    l3_1 = c.nodelists[1]
    alien = l3_1.alien[0]
    assert alien.limit == 12                            # alloc_alien_cache: limit 12 when > 1
    for o in objs[:12]:
        k.kmem_cache_free(c, o)
    assert alien.entry == objs[:12] and c.node_frees == 12
    k.kmem_cache_free(c, objs[12])                      # full: __drain_alien_cache first
    shared0 = c.nodelists[0].shared
    assert shared0.entry[-12:] == objs[:12]            # into node 0's shared array
    assert alien.entry == [objs[12]]
    k.close()


# --------------------------------------------------------------------------- SLAB_NO_REAP


def test_slab_no_reap_caches_are_skipped_by_cache_reap():
    clock = Clock()
    k = Kernel(mem=64 << 20, cpus=1, clock=clock)
    keep = k.kmem_cache_create("keep", 100, 0, SLAB_NO_REAP)
    reap = k.kmem_cache_create("reap", 100, 0, 0)
    for c in (keep, reap):
        for o in [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(10)]:
            k.kmem_cache_free(c, o)
    for _ in range(4):
        clock.now += 2.0
        k.cache_reap()
    # a refill brought 16 (BATCHREFILL_LIMIT) into each array
    assert len(keep.array[0].entry) == 16 and len(reap.array[0].entry) < 16
    k.close()


# --------------------------------------------------------------------------- item 7: lock-step model


class Model:
    """SLAB's lists and arrays for one cache of one node, transcribed from 2.6.18
    mm/slab.c (cache_alloc_refill, transfer_objects, free_block, cache_flusharray,
    drain_array, drain_freelist, cache_reap). Slabs are learned from the kernel
    only when the model grows one (their address); everything else is predicted."""

    def __init__(self, num, size, cpus, limit, batchcount, shared, free_limit, next_reap, new_slab):
        self.num, self.size = num, size
        self.arrays = [{"entry": [], "touched": 0, "limit": limit, "batch": batchcount} for _ in range(cpus)]
        self.shared = {"entry": [], "limit": shared * batchcount}
        self.partial, self.full, self.free = [], [], []     # index 0 is the list's head
        self.free_objects, self.free_limit, self.free_touched = 0, free_limit, 0
        self.next_reap = next_reap
        self.new_slab = new_slab
        self.slab_of = {}                                    # object -> slab

    # struct slab: [s_mem, inuse, bufctl free stack (end = slabp->free)]
    def grow(self):
        s_mem = self.new_slab()
        slab = [s_mem, 0, [s_mem + i * self.size for i in reversed(range(self.num))]]
        for o in slab[2]:
            self.slab_of[o] = slab
        self.free.append(slab)                               # list_add_tail(slabs_free)
        self.free_objects += self.num

    def lists_del(self, slab):
        for lst in (self.partial, self.full, self.free):
            for i, x in enumerate(lst):
                if x is slab:
                    del lst[i]
                    return

    def alloc(self, cpu):
        ac = self.arrays[cpu]
        if ac["entry"]:
            ac["touched"] = 1
            return ac["entry"].pop()
        while True:                                          # cache_alloc_refill
            batch = ac["batch"]
            if not ac["touched"] and batch > 16:
                batch = 16
            sh = self.shared
            nr = min(len(sh["entry"]), batch, ac["limit"] - len(ac["entry"]))
            if nr > 0:                                       # transfer_objects
                ac["entry"] += sh["entry"][len(sh["entry"]) - nr:]
                del sh["entry"][len(sh["entry"]) - nr:]
                ac["touched"] = 1
            else:
                while batch > 0:
                    if self.partial:
                        slab = self.partial[0]
                    else:
                        self.free_touched = 1
                        if not self.free:
                            break
                        slab = self.free[0]
                    while slab[1] < self.num and batch > 0:
                        batch -= 1
                        slab[1] += 1
                        ac["entry"].append(slab[2].pop())    # slab_get_obj
                    self.lists_del(slab)
                    (self.full if not slab[2] else self.partial).insert(0, slab)
                self.free_objects -= len(ac["entry"])
            if not ac["entry"]:
                self.grow()
                continue
            ac["touched"] = 1
            return ac["entry"].pop()

    def free_block(self, objs):
        for o in objs:
            slab = self.slab_of[o]
            self.lists_del(slab)
            slab[2].append(o)                                # slab_put_obj
            slab[1] -= 1
            self.free_objects += 1
            if slab[1] == 0:
                if self.free_objects > self.free_limit:
                    self.free_objects -= self.num
                    self.destroy(slab)
                else:
                    self.free.insert(0, slab)                # list_add(slabs_free)
            else:
                self.partial.append(slab)                    # list_add_tail(slabs_partial)

    def destroy(self, slab):
        for o in slab[2]:
            del self.slab_of[o]

    def free_obj(self, cpu, o):
        ac = self.arrays[cpu]
        if len(ac["entry"]) >= ac["limit"]:                  # cache_flusharray
            batch = ac["batch"]
            room = self.shared["limit"] - len(self.shared["entry"])
            if room > 0:
                batch = min(batch, room)
                self.shared["entry"] += ac["entry"][:batch]
            else:
                self.free_block(ac["entry"][:batch])
            del ac["entry"][:batch]
        ac["entry"].append(o)

    def drain_array(self, ac, force):
        if not ac["entry"]:
            return
        if ac.get("touched") and not force:
            ac["touched"] = 0
            return
        tofree = len(ac["entry"]) if force else (ac["limit"] + 4) // 5
        if tofree > len(ac["entry"]):
            tofree = (len(ac["entry"]) + 1) // 2
        self.free_block(ac["entry"][:tofree])
        del ac["entry"][:tofree]

    def drain_freelist(self, tofree):
        n = 0
        while n < tofree and self.free:
            slab = self.free.pop()                           # slabs_free.prev
            self.free_objects -= self.num
            self.destroy(slab)
            n += 1

    def reap(self, now):
        for ac in self.arrays:                               # each CPU's cache_reap in turn
            self.drain_array(ac, False)
            if time_after(self.next_reap, now):
                continue
            self.next_reap = (now + REAPTIMEOUT_LIST3) & MASK32
            self.drain_array(self.shared, False)
            if self.free_touched:
                self.free_touched = 0
            else:
                self.drain_freelist((self.free_limit + 5 * self.num - 1) // (5 * self.num))

    def shrink(self):
        for ac in self.arrays:
            self.free_block(ac["entry"])
            ac["entry"] = []
        self.drain_array(self.shared, True)
        self.drain_freelist(self.free_objects)


# include/linux/jiffies.h: INITIAL_JIFFIES ((unsigned long)(unsigned int)(-300*HZ)),
# time_after(a,b) ((long)(b) - (long)(a) < 0); HZ 250; mm/slab.c REAPTIMEOUT_LIST3 (4*HZ);
# include/asm-i386/page.h PAGE_OFFSET 0xC0000000
HZ = 250
MASK32 = 0xFFFFFFFF
INITIAL_JIFFIES = (-300 * HZ) & MASK32
REAPTIMEOUT_LIST3 = 4 * HZ
PAGE_OFFSET = 0xC0000000


def jiffies_at(t):
    return (INITIAL_JIFFIES + int(t * HZ)) & MASK32


def time_after(a, b):
    d = (b - a) & MASK32
    return d >= 0x80000000


def first_next_reap(c, created):
    """mm/slab.c alloc_kmemlist (2.6.18), for a cache created at `created` s:
    l3->next_reap = jiffies + REAPTIMEOUT_LIST3 + ((unsigned long)cachep) % REAPTIMEOUT_LIST3,
    cachep being the struct kmem_cache (an object of cache_cache: c.desc, physical)."""
    return (jiffies_at(created) + REAPTIMEOUT_LIST3 + (PAGE_OFFSET + c.desc) % REAPTIMEOUT_LIST3) & MASK32


def kernel_lists(c):
    l3 = c.nodelists[0]
    return [[s.s_mem for s in lst] for lst in (l3.slabs_partial, l3.slabs_full, l3.slabs_free)]


@pytest.mark.parametrize("seed, tune", [(1, None), (2, (6, 3, 2)), (3, (10, 4, 0)), (4, (30, 16, 1))])
def test_lock_step_model_predicts_every_allocation(seed, tune):
    clock = Clock()
    k = Kernel(mem=64 << 20, cpus=2, clock=clock)
    c = k.kmem_cache_create("lockstep", 1000, 0, 0)
    size, num = 1000, 4            # 4096 // 1000 objects; the 52 bytes left hold the descriptor
    assert (c.buffer_size, c.num) == (size, num)
    if tune:
        assert k.slabinfo_write(f"lockstep {tune[0]} {tune[1]} {tune[2]}".encode()) == 0
        limit, batch, shared = tune
    else:
        limit, batch, shared = tunables(size)
    known = set()

    def new_slab():
        fresh = [s for lst in c.nodelists[0].lists for s in lst if s not in known]
        assert len(fresh) == 1
        known.add(fresh[0])
        return fresh[0].s_mem
    # alloc_kmemlist: free_limit = (1 + nr_cpus_node) * batchcount + num
    m = Model(num, size, 2, limit, batch, shared, (1 + 2) * batch + num, first_next_reap(c, 0.0), new_slab)
    rng = random.Random(seed)
    held = []
    for step in range(4000):
        op = rng.random()
        cpu = rng.randrange(2)
        k.set_current(cpu, "lockstep")
        if op < 0.5 or not held:
            got = k.kmem_cache_alloc(c, G.GFP_KERNEL)
            want = m.alloc(cpu)
            assert got == want, step
            held.append(got)
        elif op < 0.97:
            o = held.pop(rng.randrange(len(held)))
            k.kmem_cache_free(c, o)
            m.free_obj(cpu, o)
        elif op < 0.995:
            clock.now += 2.0
            k.cache_reap()
            m.reap(jiffies_at(clock.now))
        else:
            k.kmem_cache_shrink(c)
            m.shrink()
        if step % 50 == 0 or op >= 0.97:
            assert [a.entry for a in c.array] == [a["entry"] for a in m.arrays], step
            assert c.nodelists[0].shared.entry == m.shared["entry"], step
            assert kernel_lists(c) == [[s[0] for s in lst] for lst in (m.partial, m.full, m.free)], step
            assert c.nodelists[0].free_objects == m.free_objects
            known &= {s for lst in c.nodelists[0].lists for s in lst}
    k.close()


# --------------------------------------------------------------------------- cache_reap's next_reap


def test_each_caches_first_shared_drain_is_offset_by_its_address():
    """mm/slab.c cache_reap (2.6.18) drains a node's shared array (and free slabs)
    only once `time_after(l3->next_reap, jiffies)` is false; a new cache's
    next_reap is jiffies + REAPTIMEOUT_LIST3 + (cachep % REAPTIMEOUT_LIST3), so
    caches created together are first drained at different reaper passes."""
    clock = Clock()
    k = Kernel(mem=64 << 20, cpus=1, clock=clock)
    caches = [k.kmem_cache_create(f"spread{i}", 1000, 0, 0) for i in range(6)]
    for c in caches:                       # fill the shared array: 100 objects out, 100 back
        objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(100)]
        for o in objs:
            k.kmem_cache_free(c, o)
        assert row(k, c.name)[-1] > 0      # slabdata's sharedavail
    first = {}
    for tick in range(1, 7):               # the reaper every REAPTIMEOUT_CPUC (2 s)
        clock.now = 2.0 * tick
        before = {c.name: row(k, c.name)[-1] for c in caches}
        k.cache_reap()
        for c in caches:
            if c.name not in first and row(k, c.name)[-1] < before[c.name]:
                first[c.name] = clock.now
    want = {}
    for c in caches:
        nr = first_next_reap(c, 0.0)
        want[c.name] = next(2.0 * t for t in range(1, 7) if not time_after(nr, jiffies_at(2.0 * t)))
    assert first == want
    assert len(set(want.values())) > 1, want   # spread: not all at creation + 4 s
    k.close()


def test_cache_caches_static_list_is_first_reaped_when_jiffies_wraps():
    """cache_cache's kmem_list3 is the static initkmem_list3[CACHE_CACHE]: zeroed,
    its next_reap is never set (kmem_cache_init; alloc_kmemlist keeps an existing
    list's). time_after(0, jiffies) holds from INITIAL_JIFFIES until jiffies wraps,
    300 s after boot: only then is its shared array drained."""
    clock = Clock()
    k = Kernel(mem=64 << 20, cpus=1, clock=clock)
    made = [k.kmem_cache_create(f"desc{i}", 64, 0, 0) for i in range(300)]
    for c in made:
        assert k.kmem_cache_destroy(c) == 0
    shared = row(k, "kmem_cache")[-1]
    assert shared > 0
    for t in (2.0, 100.0, 298.0):
        clock.now = t
        k.cache_reap()
        assert row(k, "kmem_cache")[-1] == shared, t
    clock.now = 300.0                      # jiffies = INITIAL_JIFFIES + 300 * HZ = 0
    k.cache_reap()
    assert row(k, "kmem_cache")[-1] < shared
    k.close()
