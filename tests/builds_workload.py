"""A long random allocator workload whose every observable is printed as JSON.

    python tests/builds_workload.py SEED OPS [KERNEL]

test_builds_agree.py runs it on the compiled build and on the pure one
(SCULLCFS_PURE_PYTHON=1) and compares the outputs: every address returned, the
/proc snapshots (slabinfo, zoneinfo, buddyinfo, vmstat, meminfo) taken along the
way, the kernel log and the kmem trace. Tracing is switched on and off in
phases, so the compiled functions and the pure twin that runs while tracing is
on (allocator/_pure.py) hand the same machine to each other.

KERNEL 6.18 runs run_618: the same kind of workload on a small Linux 6.18
machine, near its limits, so that allocations fail and warn_alloc, the OOM
killer and SLUB's warnings print their call traces (the compiled entry points
hand those calls to the pure twin); its snapshots add pagetypeinfo and the
/sys/kernel/slab attributes of a few caches.
"""
from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable

import allocator
from allocator import gfp as G
from allocator import procfs
from allocator.kernel import Kernel
from allocator.trace import KMEM_EVENTS, Tracer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(seed: int, ops: int) -> dict[str, object]:
    rng = random.Random(seed)
    clock = Clock()
    k = Kernel(mem=64 << 20, cpus=2, clock=clock, background=5)
    tracer = Tracer(k)
    tracer.set_buffer_size_kb(1 << 14)
    out: list[object] = []
    snaps: list[str] = []
    caches = [k.kmem_cache_create(f"w{i}", size, align, 0)
              for i, (size, align) in enumerate([(24, 0), (100, 8), (700, 0), (4000, 0), (5000, 0)])]
    cache_objs: list[tuple[int, int]] = []      # (cache index, objp)
    kmallocs: list[int] = []
    pages: list[tuple[int, int]] = []           # (pfn, order)
    # mempools (their alloc/free functions are bound at creation) and their elements
    pool_cache = caches[1]
    assert pool_cache is not None
    pools = [k.mempool_create_slab_pool(4, pool_cache), k.mempool_create_kmalloc_pool(2, 300),
             k.mempool_create_page_pool(2, 0)]
    elements: list[tuple[int, object]] = []
    for i in range(ops):
        if i % 2500 == 0:
            tracer.set_all((i // 2500) % 2 == 1)
        if i % 700 == 0:
            snaps += [procfs.slabinfo(k), procfs.zoneinfo(k), procfs.buddyinfo(k), procfs.vmstat(k),
                      procfs.meminfo(k)]
        k.set_current(100 + rng.randrange(4), "wl")
        r = rng.random()
        if r < 0.30 and len(cache_objs) < 3000:
            ci = rng.randrange(len(caches))
            cachep = caches[ci]
            assert cachep is not None
            objp = k.kmem_cache_alloc(cachep, G.GFP_KERNEL)
            out.append(objp)
            if objp is not None:
                cache_objs.append((ci, objp))
        elif r < 0.50 and cache_objs:
            ci, objp = cache_objs.pop(rng.randrange(len(cache_objs)))
            cachep = caches[ci]
            assert cachep is not None
            k.kmem_cache_free(cachep, objp)
        elif r < 0.68 and len(kmallocs) < 2000:
            size = rng.choice([1, 8, 33, 96, 200, 512, 1000, 2048, 4000, 4096, 9000, 33000, 131072])
            objp = k.kmalloc(size, rng.choice([G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOFS]))
            out.append(objp)
            if objp is not None:
                kmallocs.append(objp)
        elif r < 0.84 and kmallocs:
            k.kfree(kmallocs.pop(rng.randrange(len(kmallocs))))
        elif r < 0.92 and len(pages) < 600:
            order = rng.choice([0, 0, 0, 0, 1, 2, 3])
            pfn = k.alloc_pages(G.GFP_KERNEL | (G.__GFP_COLD if rng.random() < 0.2 else 0), order)
            out.append(pfn)
            if pfn is not None:
                pages.append((pfn, order))
        elif pages:
            pfn, order = pages.pop(rng.randrange(len(pages)))
            out.append(k.free_pages_pfn(pfn, order))
        if rng.random() < 0.04:
            pi = rng.randrange(len(pools))
            pool = pools[pi]
            assert pool is not None
            if elements and rng.random() < 0.5:
                pj, element = elements.pop(rng.randrange(len(elements)))
                target = pools[pj]
                assert target is not None
                k.mempool_free(element, target)
            else:
                element = k.mempool_alloc(pool, G.GFP_KERNEL)
                out.append(element)
                if element is not None:
                    elements.append((pi, element))
        if i % 3001 == 0:
            k.drop_caches(2)     # the background caches' shrinkers (registered at boot)
        if i % 997 == 0:
            clock.now += 2.5
            k.cache_reap()
        if i % 4999 == 0:
            cachep = caches[rng.randrange(len(caches))]
            assert cachep is not None
            out.append(k.kmem_cache_shrink(cachep))
    snaps += [procfs.slabinfo(k), procfs.zoneinfo(k), procfs.buddyinfo(k), procfs.vmstat(k), procfs.meminfo(k)]
    result = {"build": allocator.BUILD, "events": sorted(KMEM_EVENTS), "addresses": out, "snapshots": snaps,
              "log": [r.text for r in k.log.records], "trace": tracer.trace()}
    k.close()
    return result


class Device:
    """A driver whose methods allocate: registered as call sites, its frames
    are on every call trace (the module text and the system call path)."""

    def write(self, op: Callable[..., object], *args: object) -> object:
        return op(*args)

    def ioctl(self, op: Callable[..., object], *args: object) -> object:
        return op(*args)


def run_618(seed: int, ops: int) -> dict[str, object]:
    from allocator.linux618 import procfs as P
    from allocator.linux618 import sysfs
    from allocator.linux618.trace_format import Kmem618Format
    rng = random.Random(seed)
    clock = Clock()
    k = Kernel(version="6.18", mem=32 << 20, cpus=2, clock=clock, background=5)
    g = k.version.gfp
    GFP_KERNEL, GFP_ATOMIC, GFP_NOFS, __GFP_ZERO = g.GFP_KERNEL, g.GFP_ATOMIC, g.GFP_NOFS, g.__GFP_ZERO
    k.register_call_sites(Device, "wl")
    dev = Device()
    tracer = Tracer(k, Kmem618Format(key=b"w" * 16))
    tracer.set_buffer_size_kb(1 << 14)
    out: list[object] = []
    snaps: list[str] = []
    specs = [(24, 0, 0), (100, 8, 0), (700, 0, 0), (4000, 0, 0), (5000, 0, 0), (96, 0, k.version.slab.SLAB_ACCOUNT)]
    caches = [k.kmem_cache_create(f"w{i}", size, align, flags) for i, (size, align, flags) in enumerate(specs)]
    watched = caches[:4] + [next(c for c in k.caches() if c.name == name) for name in ("kmalloc-64", "kmalloc-4k")]

    def snapshot() -> None:
        pa = k.page_alloc
        snaps.extend([sysfs.slabinfo_show(k.slab), P.zoneinfo(pa), P.buddyinfo(pa), P.pagetypeinfo(pa),
                      P.vmstat(pa), P.meminfo(pa)])
        for c in watched:
            assert c is not None
            for name, (_, show, _) in sorted(sysfs.slab_attrs(k.slab, c).items()):
                snaps.append(f"{c.name}/{name}: {show()}")

    cache_objs: list[tuple[int, int]] = []      # (cache index, objp)
    kmallocs: list[int] = []
    pages: list[tuple[int, int]] = []           # (pfn, order)
    vmallocs: list[int] = []
    pool_cache = caches[1]
    assert pool_cache is not None
    pools = [k.mempool_create_slab_pool(4, pool_cache), k.mempool_create_kmalloc_pool(2, 300),
             k.mempool_create_page_pool(2, 0)]
    elements: list[tuple[int, object]] = []
    for i in range(ops):
        if i % 2500 == 0:
            tracer.set_all((i // 2500) % 3 == 1)
        if i % 700 == 0:
            snapshot()
        clock.now += 0.01                       # warn_alloc's ratelimit lets one report by every 10 s
        k.set_current(100 + rng.randrange(4), "wl")
        r = rng.random()
        gfp = rng.choice([GFP_KERNEL, GFP_KERNEL, GFP_ATOMIC, GFP_NOFS])
        if r < 0.26 and len(cache_objs) < 4000:
            ci = rng.randrange(len(caches))
            cachep = caches[ci]
            assert cachep is not None
            objp = dev.write(k.kmem_cache_alloc, cachep, gfp)
            out.append(objp)
            if isinstance(objp, int):
                cache_objs.append((ci, objp))
        elif r < 0.44 and cache_objs:
            ci, objp = cache_objs.pop(rng.randrange(len(cache_objs)))
            cachep = caches[ci]
            assert cachep is not None
            k.kmem_cache_free(cachep, objp)
            if rng.random() < 0.01:
                k.kmem_cache_free(cachep, objp)         # a double free: SLUB's report
        elif r < 0.60 and len(kmallocs) < 2500:
            size = rng.choice([1, 8, 33, 96, 200, 512, 1000, 2048, 4000, 4096, 9000, 33000, 131072])
            objp = dev.write(rng.choice([k.kmalloc, k.kzalloc]), size, gfp)
            out.append(objp)
            if isinstance(objp, int):
                kmallocs.append(objp)
        elif r < 0.74 and kmallocs:
            k.kfree(kmallocs.pop(rng.randrange(len(kmallocs))))
        elif r < 0.84 and len(pages) < 900:
            order = rng.choice([0, 0, 0, 1, 2, 3, 3, 4])
            pfn = dev.ioctl(k.alloc_pages, gfp | (__GFP_ZERO if rng.random() < 0.2 else 0), order)
            out.append(pfn)
            if isinstance(pfn, int):
                pages.append((pfn, order))
        elif r < 0.92 and pages:
            pfn, order = pages.pop(rng.randrange(len(pages)))
            out.append(k.free_pages_pfn(pfn, order))
        elif r < 0.95 and len(vmallocs) < 40:
            addr = dev.write(k.vmalloc, rng.choice([4096, 20000, 300000]))
            out.append(addr)
            if isinstance(addr, int):
                vmallocs.append(addr)
        elif vmallocs:
            k.vfree(vmallocs.pop(rng.randrange(len(vmallocs))))
        if rng.random() < 0.04:
            pi = rng.randrange(len(pools))
            pool = pools[pi]
            assert pool is not None
            if elements and rng.random() < 0.5:
                pj, element = elements.pop(rng.randrange(len(elements)))
                target = pools[pj]
                assert target is not None
                k.mempool_free(element, target)
            else:
                element = dev.write(k.mempool_alloc, pool, GFP_ATOMIC)
                out.append(element)
                if element is not None:
                    elements.append((pi, element))
        if rng.random() < 0.002 and cache_objs:
            ci, objp = cache_objs.pop(rng.randrange(len(cache_objs)))
            wrong = caches[(ci + 1) % len(caches)]
            assert wrong is not None
            k.kmem_cache_free(wrong, objp)              # the wrong cache: WARN, freed to its own
        if rng.random() < 0.001 and pages:
            pfn, order = pages[rng.randrange(len(pages))]
            k.kfree(pfn << 12)                          # not a slab object: WARN_ON_ONCE
        if i % 3001 == 0:
            k.drop_caches(2)
        if i % 997 == 0:
            clock.now += 2.5
            out.append(k.kswapd_run())
        if i % 1499 == 0:
            k.drain_all_pages()
        if i % 4999 == 0:
            cachep = caches[rng.randrange(len(caches))]
            assert cachep is not None
            out.append(k.kmem_cache_shrink(cachep))
    snapshot()
    out.append(k.kmem_cache_destroy(caches[0]))          # objects left: WARN with _RET_IP_
    result = {"build": allocator.BUILD, "addresses": out, "snapshots": snaps,
              "log": [r.text for r in k.log.records], "trace": tracer.trace()}
    k.close()
    return result


if __name__ == "__main__":
    if sys.argv[3:] == ["6.18"]:
        json.dump(run_618(int(sys.argv[1]), int(sys.argv[2])), sys.stdout)
    else:
        json.dump(run(int(sys.argv[1]), int(sys.argv[2])), sys.stdout)
