"""The allocator's parts: the version declaration, reclaim through registered
shrinkers, and the query API the filesystem side uses instead of internals."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from allocator import gfp as G
from allocator.slab import SLAB_HWCACHE_ALIGN
from allocator.vmscan import Shrinker, register_shrinker

ALLOCATOR = Path(__file__).resolve().parent.parent / "allocator"


def _imports(module: str) -> set[str]:
    tree = ast.parse((ALLOCATOR / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add((node.module or "").lstrip("."))
            names.update(a.name for a in node.names if not node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_vmscan_holds_neither_allocator_it_reclaims_for():
    # mm/vmscan.c is called by page_alloc and slab; importing them back is the cycle
    assert not _imports("vmscan") & {"page_alloc", "slab", "kernel"}


def test_page_allocator_does_not_reach_into_slab():
    assert not _imports("page_alloc") & {"slab", "slab_debug", "kernel"}


def test_the_default_kernel_is_2_6_18_on_i386_with_slab(kernel):
    k = kernel(mem=16 << 20)
    assert (k.version.release, k.version.arch.name, k.version.slab_name) == ("2.6.18", "i386", "SLAB")
    assert "Linux version 2.6.18" in k.log.records[0].text


def test_an_unknown_kernel_version_is_refused_naming_the_known_ones(kernel):
    with pytest.raises(ValueError, match="2.6.18"):
        kernel(mem=16 << 20, version="2.4.37")


class CountingShrinker:
    """A 2.6.18 shrinker callback holding `n` objects; like shrink_dcache_memory
    it returns -1 for a scan without __GFP_FS."""

    def __init__(self, n: int, needs: int = 0) -> None:
        self.n, self.needs, self.calls = n, needs, []

    def __call__(self, nr: int, gfp: int) -> int:
        self.calls.append((nr, gfp))
        if nr:
            if self.needs & ~gfp:
                return -1
            self.n -= min(self.n, nr)
        return self.n


def test_a_shrinker_that_needs_gfp_fs_is_not_called_for_gfp_nofs(kernel):
    # mm/vmscan.c shrink_slab (2.6.18): every shrinker is asked to count (nr 0);
    # the first batch's -1 ends its scan; the share waits in shrinker->nr
    k = kernel(mem=16 << 20)
    cb = CountingShrinker(1000, G.__GFP_FS)
    sh = Shrinker("test", cb)
    register_shrinker(k.vmscan, sh)
    k.shrink_slab(G.GFP_NOFS)
    assert cb.calls == [(0, G.GFP_NOFS), (0, G.GFP_NOFS), (128, G.GFP_NOFS)] and cb.n == 1000
    # delta = 4 * SWAP_CLUSTER_MAX / seeks(2) * 1000 / (0 + 1), capped at 2 * 1000
    assert sh.nr == 2000
    cb.calls.clear()
    k.shrink_slab(G.GFP_KERNEL)
    assert [nr for nr, _ in cb.calls if nr] == [128] * 15      # 2000 // SHRINK_BATCH
    assert cb.n == 0 and sh.nr == 2000 - 15 * 128


def test_shrink_slab_counts_the_objects_scanned_as_slabs_scanned(kernel):
    k = kernel(mem=16 << 20)
    register_shrinker(k.vmscan, Shrinker("three", CountingShrinker(300)))
    before = k.vm_events["slabs_scanned"]
    k.shrink_slab(G.GFP_KERNEL)
    # total_scan = min(64 * 300, 2 * 300) = 600: four batches of 128 (count_vm_events(SLABS_SCANNED, this_scan))
    assert k.vm_events["slabs_scanned"] - before == 4 * 128


def test_drop_caches_runs_the_shrinkers_until_they_free_no_more_than_10_and_counts_drop_slab(kernel):
    k = kernel(mem=16 << 20)
    cb = CountingShrinker(1000, G.__GFP_IO)
    register_shrinker(k.vmscan, Shrinker("io", cb))
    k.drop_caches(1)                 # page cache only: no shrinker runs, still counted
    assert cb.calls == [] and k.vm_events["drop_slab"] == 1
    k.drop_caches(2)                 # fs/drop_caches.c drop_slab: shrink_slab(1000, GFP_KERNEL, 1000)
    assert cb.n == 0 and k.vm_events["drop_slab"] == 2
    assert {gfp for _, gfp in cb.calls} == {G.GFP_KERNEL}


def test_direct_reclaim_of_a_sleeping_allocation_goes_through_the_shrinkers(kernel):
    k = kernel(mem=16 << 20, background=0)
    cb = CountingShrinker(0)
    register_shrinker(k.vmscan, Shrinker("count", cb))
    while k.alloc_pages(G.GFP_ATOMIC | G.__GFP_NOWARN, 0) is not None:
        pass
    assert k.alloc_pages(G.GFP_KERNEL | G.__GFP_NOWARN, 0) is None
    # try_to_free_pages: shrink_slab at each priority DEF_PRIORITY (12) .. 0
    assert cb.calls == [(0, G.GFP_KERNEL | G.__GFP_NOWARN)] * 13
    assert k.vm_events["allocstall"] == 1
    # GFP_ATOMIC may not reclaim
    k.alloc_pages(G.GFP_ATOMIC | G.__GFP_NOWARN, 0)
    assert len(cb.calls) == 13


def test_the_background_caches_are_pruned_only_with_what_their_shrinkers_need(kernel):
    k = kernel(mem=32 << 20, background=20)
    dentries = k.find_cache("dentry_cache")
    heads = k.find_cache("buffer_head")
    d0, b0 = len(k.background[dentries]), len(k.background[heads])
    k.shrink_slab(G.GFP_NOIO)        # neither __GFP_FS nor __GFP_IO
    assert (len(k.background[dentries]), len(k.background[heads])) == (d0, b0)
    # __GFP_IO: buffer heads only; with no LRU pages (lru_pages 0) the share is
    # twice what the shrinker counts, so all of them go
    k.shrink_slab(G.GFP_NOFS)
    assert len(k.background[dentries]) == d0 and len(k.background[heads]) == 0
    k.drop_caches(2)
    assert not k.background[dentries] and not k.background[heads]
    assert k.live_objects(dentries) == 0


def test_object_is_live_follows_alloc_and_free(kernel):
    k = kernel(mem=16 << 20)
    c = k.kmem_cache_create("q", 4000, 0, SLAB_HWCACHE_ALIGN)
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert k.object_is_live(c, objp) and k.live_objects(c) == 1
    k.kmem_cache_free(c, objp)
    assert not k.object_is_live(c, objp) and k.live_objects(c) == 0
    # the freed object waits in the CPU's array (SLAB counts it active)
    assert k.cpu_objects(c) == 1


def test_object_is_live_sees_through_the_red_zone_of_a_debugging_slab(kernel):
    k = kernel(mem=16 << 20, slab_debug=True)
    c = k.kmem_cache_create("q", 100, 0, 0)
    objp = k.kmem_cache_alloc(c, G.GFP_KERNEL)
    assert c.obj_offset == 4 and k.object_is_live(c, objp)   # one red zone word (BYTES_PER_WORD)
    k.kmem_cache_free(c, objp)
    assert not k.object_is_live(c, objp)


def test_cache_of_names_the_general_cache_that_holds_a_kmalloc_object(kernel):
    k = kernel(mem=16 << 20)
    addr = k.kmalloc(100, G.GFP_KERNEL)
    assert k.cache_of(addr).name == "size-128"
    assert k.kmalloc_object_is_live(addr) and k.kmalloc_object_is_live(addr + 0) is True
    k.kfree(addr)
    assert not k.kmalloc_object_is_live(addr)
    assert k.cache_of(None) is None and k.cache_of(-1) is None


def test_page_block_order_is_known_for_a_block_head_only(kernel):
    k = kernel(mem=16 << 20)
    pfn = k.alloc_pages(G.GFP_KERNEL, 3)
    assert k.page_block_order(pfn) == 3
    assert k.page_block_order(pfn + 1) is None
    k.free_pages_pfn(pfn, 3)
    assert k.page_block_order(pfn) is None


def test_partial_slabs_counts_slabs_with_some_objects_in_use(kernel):
    k = kernel(mem=16 << 20, cpus=1)
    c = k.kmem_cache_create("p", 2000, 0, 0)          # off-slab: 2 objects per page
    objs = [k.kmem_cache_alloc(c, G.GFP_KERNEL) for _ in range(4)]
    k.kmem_cache_free(c, objs[0])
    k.kmem_cache_shrink(c)                             # the array goes back to the slabs
    assert (c.num, k.partial_slabs(c)) == (2, 1)


def test_struct_page_addresses_follow_node_0s_mem_map_at_16m(kernel):
    # bootmem places node 0's mem_map at MAX_DMA_ADDRESS (16 MiB) when Normal
    # exists; struct page is 32 bytes on i386
    k = kernel(mem=64 << 20)
    assert k.struct_page_address(0) == 0xC0000000 + (16 << 20)
    assert k.struct_page_address(5) == 0xC0000000 + (16 << 20) + 5 * 32


def test_a_trace_call_site_is_a_method_name_until_the_caller_registers_its_class(kernel):
    from allocator.trace import Tracer

    class Gadget:
        def __init__(self, k):
            self.k = k

        def poke(self):
            return self.k.kmalloc(64, G.GFP_KERNEL)

    k = kernel(mem=16 << 20)
    tracer = Tracer(k)
    tracer.set_enabled("kmalloc", True)
    Gadget(k).poke()
    assert "call_site=poke+0x" in tracer.trace()
    k.register_call_sites(Gadget, "gadget")
    tracer.reset()
    Gadget(k).poke()
    assert "call_site=gadget_poke+0x" in tracer.trace() and "[gadget]" in tracer.trace()
