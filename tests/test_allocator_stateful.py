"""A hypothesis state machine over a small Kernel: random cache create/destroy,
kmem_cache_alloc/free, kmalloc/kfree, alloc_pages/free_pages, shrink and reap, with
the allocator's bookkeeping checked against a model after every step."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from allocator import gfp as G
from allocator import procfs
from allocator.gfp import F  # __GFP_X would be mangled inside the class
from allocator.kernel import Kernel
from allocator.page_alloc import FREE, HOLE, MAX_ORDER, PAGES, PCP, RESERVED
from allocator.slab import (
    SLAB_CACHE_DMA,
    SLAB_CTOR_CONSTRUCTOR,
    SLAB_HWCACHE_ALIGN,
    SLAB_NO_REAP,
    SLAB_RECLAIM_ACCOUNT,
    Slab,
)
from kernel_fixtures import FakeClock

PAGE = 4096
DMA_END_PFN = (16 << 20) // PAGE
SLABINFO_LINE = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s")

GFP_CHOICES = [G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOIO, G.GFP_NOFS, G.GFP_KERNEL | G.__GFP_ZERO,
               G.GFP_ATOMIC | G.__GFP_COLD, G.GFP_KERNEL | G.__GFP_NORETRY]
PAGE_GFP_CHOICES = GFP_CHOICES + [G.GFP_KERNEL | G.__GFP_DMA, G.GFP_ATOMIC | G.__GFP_DMA,
                                  G.GFP_HIGHUSER, G.GFP_KERNEL | G.__GFP_COLD]
SLAB_FLAG_CHOICES = [SLAB_HWCACHE_ALIGN, SLAB_CACHE_DMA, SLAB_NO_REAP, SLAB_RECLAIM_ACCOUNT]
kmalloc_sizes = st.one_of(st.integers(1, 512), st.integers(1, 131072),
                          st.sampled_from([32, 33, 4096, 4097, 131072]))
cache_sizes = st.one_of(st.integers(4, 600), st.integers(4, 40000))


class AllocatorMachine(RuleBasedStateMachine):
    """Model: every allocation we hold, per cache; constructor/destructor calls."""

    @initialize(machine=st.sampled_from([(8 << 20, 1), (24 << 20, 1), (40 << 20, 2)]),
                cpus=st.integers(1, 3))
    def boot(self, machine, cpus):
        mem, nodes = machine
        self.clock = FakeClock()   # a state machine cannot take the kernel fixture
        self.k = Kernel(mem=mem, nodes=nodes, cpus=cpus, clock=self.clock)
        self.k.set_current(0, "stateful")
        for _ in range(2):         # boot's arrays drained: the state teardown comes back to
            for cachep in self.k.cache_chain:
                self.k.kmem_cache_shrink(cachep)
        self.k.drain_all_pages()
        self.boot_lists = self.free_lists()
        self.boot_live = {c.name: set(c.live) for c in self.k.cache_chain}   # SLAB's metadata
        self.boot_slab_pages = self.k.nr_slab_pages()
        self.created = []              # caches made by the test, still alive
        self.objs = {}                 # addr -> cache (kmem_cache_alloc)
        self.kmallocs = {}             # addr -> (size, cache)
        self.pages = {}                # pfn -> order
        self.ctor_calls = {}           # cache name -> count
        self.dtor_calls = {}
        self.serial = 0

    # -- helpers ----------------------------------------------------------------

    def free_lists(self):
        return {(z.node.id, z.name): [frozenset(a) for a in z.free_area] for z in self.k.zones}

    def make_ctor(self, name):
        def ctor(kernel, objp, cachep, flags):
            assert flags & SLAB_CTOR_CONSTRUCTOR
            assert kernel.mem_map[objp >> 12].cache is cachep
            self.ctor_calls[name] += 1

        def dtor(kernel, objp, cachep, flags):
            assert flags == 0
            self.dtor_calls[name] += 1
        return ctor, dtor

    # -- rules: caches -------------------------------------------------------------

    @rule(size=cache_sizes, flags=st.lists(st.sampled_from(SLAB_FLAG_CHOICES), unique=True),
          with_ctor=st.booleans())
    def create_cache(self, size, flags, with_ctor):
        self.serial += 1
        name = f"test-{self.serial}"
        mask = 0
        for f in flags:
            mask |= f
        ctor = dtor = None
        if with_ctor:
            ctor, dtor = self.make_ctor(name)
            self.ctor_calls[name] = self.dtor_calls[name] = 0
        cachep = self.k.kmem_cache_create(name, size, 0, mask, ctor, dtor)
        if cachep is None:         # its descriptor and arrays are kmalloc'd: memory ran short
            # 2.6.18: a failure report, or the OOM killer's (a killed task's later
            # allocations fail without a word)
            log = self.k.log
            assert (log.grep("page allocation failure") or log.grep("enable_cpucache failed")
                    or log.grep("oom-killer: gfp_mask="))
            return
        assert self.k.cache_chain[0] is cachep
        assert cachep.buffer_size >= size and cachep.num >= 1
        self.created.append(cachep)

    @precondition(lambda self: self.created)
    @rule(data=st.data())
    def create_duplicate_cache_fails(self, data):
        cachep = data.draw(st.sampled_from(self.created))
        assert self.k.kmem_cache_create(cachep.name, 64, 0, 0) is None

    @precondition(lambda self: self.created)
    @rule(data=st.data())
    def destroy_cache(self, data):
        cachep = data.draw(st.sampled_from(self.created))
        held = sum(1 for c in self.objs.values() if c is cachep)
        before = len(self.k.log.grep("Can't free all objects"))
        ok = self.k.kmem_cache_destroy(cachep) == 0
        assert ok == (held == 0)
        if ok:
            self.created.remove(cachep)
            assert cachep not in self.k.cache_chain
        else:
            assert len(self.k.log.grep(f"cache `{cachep.name}': Can't free all objects")) > 0
            assert len(self.k.log.grep("Can't free all objects")) == before + 1
            assert cachep in self.k.cache_chain

    # -- rules: objects ------------------------------------------------------------

    @precondition(lambda self: self.created)
    @rule(data=st.data(), gfp=st.sampled_from(GFP_CHOICES))
    def cache_alloc(self, data, gfp):
        cachep = data.draw(st.sampled_from(self.created))
        objp = self.k.kmem_cache_alloc(cachep, gfp | F.NOWARN)
        if objp is None:
            return
        assert objp not in self.objs
        self.objs[objp] = cachep
        # leave a mark, so overlapping objects would show up as corrupted marks
        self.k.mem.write(objp, objp.to_bytes(4, "little"))
        # __GFP_ZERO is not in 2.6.18's GFP_LEVEL_MASK: nothing is zeroed (or cache_grow BUGs)

    @precondition(lambda self: self.created)
    @rule(data=st.data(), n=st.integers(2, 60))
    def cache_alloc_many(self, data, n):
        cachep = data.draw(st.sampled_from(self.created))
        for _ in range(n):
            objp = self.k.kmem_cache_alloc(cachep, G.GFP_ATOMIC | F.NOWARN)
            if objp is None:
                break
            assert objp not in self.objs
            self.objs[objp] = cachep
            self.k.mem.write(objp, objp.to_bytes(4, "little"))

    @precondition(lambda self: self.objs)
    @rule(data=st.data(), everything=st.booleans())
    def cache_free_many(self, data, everything):
        cachep = data.draw(st.sampled_from(sorted({c.name for c in self.objs.values()})))
        mine = sorted(o for o, c in self.objs.items() if c.name == cachep)
        if not everything:
            mine = mine[::2]
        for objp in mine:
            cachep = self.objs.pop(objp)
            assert bytes(self.k.mem.read(objp, 4)) == objp.to_bytes(4, "little")
            self.k.kmem_cache_free(cachep, objp)

    @precondition(lambda self: self.objs)
    @rule(data=st.data())
    def cache_free(self, data):
        objp = data.draw(st.sampled_from(sorted(self.objs)))
        cachep = self.objs.pop(objp)
        assert bytes(self.k.mem.read(objp, 4)) == objp.to_bytes(4, "little")
        self.k.kmem_cache_free(cachep, objp)

    @precondition(lambda self: self.objs)
    @rule(data=st.data())
    def double_free_is_harmless(self, data):
        objp = data.draw(st.sampled_from(sorted(self.objs)))
        cachep = self.objs.pop(objp)
        self.k.kmem_cache_free(cachep, objp)
        counts = cachep.slab_counts(), len(cachep.live), [len(a.entry) for a in cachep.array]
        errors = cachep.errors
        self.k.kmem_cache_free(cachep, objp)
        assert cachep.errors == errors   # reported in the log; STATS_INC_ERR is never called
        assert (cachep.slab_counts(), len(cachep.live), [len(a.entry) for a in cachep.array]) == counts

    @rule(size=kmalloc_sizes, gfp=st.sampled_from(GFP_CHOICES), dma=st.booleans())
    def kmalloc(self, size, gfp, dma):
        if dma:
            gfp |= F.DMA
        addr = self.k.kmalloc(size, gfp | F.NOWARN)
        if addr is None:
            return
        cachep = self.k.mem_map[addr >> 12].cache
        assert cachep.kmalloc and cachep.name.endswith("(DMA)") == dma
        assert size <= cachep.obj_size < 2 * size or cachep.obj_size == 32
        assert self.k.ksize(addr) == cachep.obj_size
        if dma:
            assert (addr + size - 1) >> 12 < DMA_END_PFN
        assert addr not in self.kmallocs
        self.kmallocs[addr] = (size, cachep)
        self.k.mem.write(addr, addr.to_bytes(4, "little"))

    @precondition(lambda self: self.kmallocs)
    @rule(data=st.data())
    def kfree(self, data):
        addr = data.draw(st.sampled_from(sorted(self.kmallocs)))
        self.kmallocs.pop(addr)
        assert bytes(self.k.mem.read(addr, 4)) == addr.to_bytes(4, "little")
        self.k.kfree(addr)

    # -- rules: pages ----------------------------------------------------------------

    @rule(order=st.integers(0, 5), gfp=st.sampled_from(PAGE_GFP_CHOICES))
    def alloc_pages(self, order, gfp):
        pfn = self.k.alloc_pages(gfp | F.NOWARN, order)
        if pfn is None:
            return
        assert pfn % (1 << order) == 0          # buddy blocks are naturally aligned
        zone = self.k.zone_of(pfn)
        assert pfn + (1 << order) <= zone.end_pfn
        if gfp & F.DMA:
            assert zone.name == "DMA"
        if not gfp & F.HIGHMEM:
            assert zone.name != "HighMem"
        assert pfn not in self.pages
        self.pages[pfn] = order
        self.k.mem.write(pfn * PAGE, pfn.to_bytes(4, "little"))

    @rule(gfp=st.sampled_from([G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_KERNEL | F.DMA]),
          lowest=st.integers(0, 5))
    def hog_memory(self, gfp, lowest):
        """Take big blocks until the allocator refuses, so later requests run short."""
        for order in range(10, lowest - 1, -1):
            while (pfn := self.k.alloc_pages(gfp | F.NOWARN, order)) is not None:
                self.pages[pfn] = order
                self.k.mem.write(pfn * PAGE, pfn.to_bytes(4, "little"))

    @precondition(lambda self: self.pages)
    @rule(data=st.data(), n=st.integers(1, 50))
    def free_many_pages(self, data, n):
        for pfn in data.draw(st.permutations(sorted(self.pages)))[:n]:
            order = self.pages.pop(pfn)
            assert self.k.free_pages_pfn(pfn, order) is True

    @precondition(lambda self: self.pages)
    @rule(data=st.data())
    def free_pages(self, data):
        pfn = data.draw(st.sampled_from(sorted(self.pages)))
        order = self.pages.pop(pfn)
        assert bytes(self.k.mem.read(pfn * PAGE, 4)) == pfn.to_bytes(4, "little")
        assert self.k.free_pages_pfn(pfn, order) is True

    # -- rules: shrinking, reaping, CPUs -----------------------------------------------

    @rule(data=st.data())
    def shrink_cache(self, data):
        cachep = data.draw(st.sampled_from(self.created + self.k.malloc_sizes[:8]))
        busy = self.k.kmem_cache_shrink(cachep)
        num_slabs, active_slabs, _, active_objs = cachep.slab_counts()
        assert num_slabs == active_slabs           # no free slab left
        assert sum(len(a.entry) for a in cachep.array) + cachep.shared_avail() == 0
        assert active_objs == len(cachep.live)
        assert busy == (1 if cachep.live else 0)

    @rule()
    def cache_reap(self):
        self.clock.advance(2.5)
        self.k.cache_reap()

    @rule()
    def shrink_slab(self):
        self.k.shrink_slab(G.GFP_KERNEL)

    @rule()
    def drain_all_pages(self):
        self.k.drain_all_pages()

    @rule(pid=st.integers(0, 5))
    def switch_cpu(self, pid):
        self.k.set_current(pid, "stateful")

    @precondition(lambda self: self.created)
    @rule(data=st.data(), limit=st.one_of(st.integers(1, 6), st.integers(1, 150)),
          shared=st.sampled_from([0, 0, 1, 2, 8]))
    def tune_cache(self, data, limit, shared):
        cachep = data.draw(st.sampled_from(self.created))
        batch = data.draw(st.integers(1, limit))
        line = f"{cachep.name} {limit} {batch} {shared}\n".encode()
        if self.k.slabinfo_write(line) != 0:   # the new arrays are kmalloc'd: memory ran short
            return
        assert (cachep.limit, cachep.batchcount, cachep.shared) == (limit, batch, shared)

    # -- invariants ----------------------------------------------------------------

    def live_intervals(self):
        k = self.k
        spans = []
        for objp, cachep in self.objs.items():
            spans.append((objp, objp + cachep.buffer_size, cachep))
        for addr, (_, cachep) in self.kmallocs.items():
            spans.append((addr, addr + cachep.buffer_size, cachep))
        for pfn, order in self.pages.items():
            spans.append((pfn * PAGE, (pfn + (1 << order)) * PAGE, None))
        for start, end, cachep in spans:
            if cachep is None:
                pfn = start // PAGE
                assert k.mem_map[pfn:end // PAGE] == [PAGES] * ((end - start) // PAGE)
                assert k.alloc_order[pfn] == (end - start).bit_length() - 13
            else:
                slab = k.mem_map[start // PAGE]
                assert isinstance(slab, Slab) and slab.cache is cachep
                assert (start - slab.s_mem) % cachep.buffer_size == 0
                assert slab.s_mem <= start and end <= slab.s_mem + cachep.num * cachep.buffer_size
                assert end <= slab.addr + (PAGE << cachep.gfporder)
        return spans

    @invariant()
    def no_two_live_allocations_overlap(self):
        if not hasattr(self, "k"):
            return
        spans = sorted(self.live_intervals(), key=lambda s: s[0])
        for (s1, e1, _), (s2, e2, _) in zip(spans, spans[1:]):
            assert e1 <= s2, f"[{s1:#x},{e1:#x}) overlaps [{s2:#x},{e2:#x})"

    def all_slabs(self, cachep):
        for l3 in cachep.nodelists:
            for lst in l3.lists:
                yield from lst

    @invariant()
    def slab_counts_match_the_model(self):
        if not hasattr(self, "k"):
            return
        k = self.k
        active_by_name = {}
        for line in procfs.slabinfo(k).splitlines()[2:]:
            m = SLABINFO_LINE.match(line)
            active_by_name[m.group(1)] = int(m.group(2))
        mgmt = {}
        for cachep in k.cache_chain:
            if cachep.slabp_cache is not None:
                for slab in self.all_slabs(cachep):
                    mgmt.setdefault(cachep.slabp_cache.name, set()).add(slab.mgmt)
        for cachep in k.cache_chain:    # SLAB's metadata: arrays, kmem_list3s, descriptors
            metadata = [ac.addr for ac in cachep.array] + [cachep.desc]
            for l3 in cachep.nodelists:
                metadata += [l3.addr, l3.shared.addr if l3.shared else None, l3.alien_addr]
                metadata += [ac.addr for ac in l3.alien or () if ac is not None]
            for addr in metadata:
                if addr:
                    mgmt.setdefault(k.cache_of(addr).name, set()).add(addr)
        mine = {}
        for objp, cachep in self.objs.items():
            mine.setdefault(cachep.name, set()).add(objp)
        for addr, (_, cachep) in self.kmallocs.items():
            mine.setdefault(cachep.name, set()).add(addr)
        assert set(mine) <= set(active_by_name)
        for cachep in k.cache_chain:
            parked = [o for ac in cachep.array for o in ac.entry]
            parked += [o for l3 in cachep.nodelists if l3.shared for o in l3.shared.entry]
            parked += [o for l3 in cachep.nodelists for ac in l3.alien or () if ac for o in ac.entry]
            expected = mine.get(cachep.name, set()) | mgmt.get(cachep.name, set())
            assert active_by_name[cachep.name] - len(parked) == len(cachep.live)
            assert cachep.live == expected, cachep.name
            # every object of every slab is exactly one of: live, parked, free in its slab
            free_in_slabs = [o for slab in self.all_slabs(cachep) for o in slab.free]
            everything = list(cachep.live) + parked + free_in_slabs
            assert len(everything) == len(set(everything))
            assert len(everything) == cachep.slab_counts()[2]
            for slab in self.all_slabs(cachep):
                assert slab.inuse == cachep.num - len(slab.free)
                assert k.mem_map[slab.pfn:slab.pfn + (1 << cachep.gfporder)] == [slab] * (1 << cachep.gfporder)
            if cachep.name in self.ctor_calls:
                assert self.ctor_calls[cachep.name] == cachep.grown * cachep.num
                destroyed = cachep.grown - cachep.slab_counts()[0]
                assert self.dtor_calls[cachep.name] == destroyed * cachep.num

    @invariant()
    def zone_pages_add_up(self):
        if not hasattr(self, "k"):
            return
        k = self.k
        slab_pages = {}
        for cachep in k.cache_chain:
            for slab in self.all_slabs(cachep):
                zone = k.zone_of(slab.pfn)
                slab_pages[id(zone)] = slab_pages.get(id(zone), 0) + (1 << cachep.gfporder)
        my_pages = {}
        for pfn, order in self.pages.items():
            zone = k.zone_of(pfn)
            my_pages[id(zone)] = my_pages.get(id(zone), 0) + (1 << order)
        assert sum(slab_pages.values()) == k.nr_slab_pages()
        for zone in k.zones:
            frames = k.mem_map[zone.start_pfn:zone.end_pfn]
            buddy = sum(len(area) << o for o, area in enumerate(zone.free_area))
            assert buddy == zone.free_pages == frames.count(FREE)
            pcp = zone.pcp_count()
            assert pcp == frames.count(PCP)
            used = my_pages.get(id(zone), 0) + slab_pages.get(id(zone), 0)
            assert frames.count(PAGES) == my_pages.get(id(zone), 0)
            assert (len(frames) - frames.count(FREE) - frames.count(PCP) - frames.count(PAGES)
                    - frames.count(HOLE) - frames.count(RESERVED)) == slab_pages.get(id(zone), 0)
            assert buddy + pcp + used == zone.managed, zone
            # coalescing is complete: no two free buddies of the same order
            for order in range(MAX_ORDER - 1):
                area = zone.free_area[order]
                for pfn in area:
                    assert pfn % (1 << order) == 0
                    assert pfn ^ (1 << order) not in area, (zone, order, pfn)

    # -- teardown --------------------------------------------------------------------

    def teardown(self):
        if not hasattr(self, "k"):
            return
        k = self.k
        for objp, cachep in list(self.objs.items()):
            k.kmem_cache_free(cachep, objp)
        for addr in list(self.kmallocs):
            k.kfree(addr)
        for pfn, order in list(self.pages.items()):
            assert k.free_pages_pfn(pfn, order)
        self.objs.clear()
        self.kmallocs.clear()
        self.pages.clear()
        for cachep in list(self.created):
            assert k.kmem_cache_destroy(cachep) == 0, cachep.name
        for _ in range(2):         # off-slab descriptors go back to smaller caches
            for cachep in k.cache_chain:
                k.kmem_cache_shrink(cachep)
        k.drain_all_pages()
        assert {c.name: c.live for c in k.cache_chain} == self.boot_live
        assert all(c.slab_counts()[3] == len(c.live) for c in k.cache_chain)
        assert k.nr_slab_pages() == self.boot_slab_pages
        assert self.free_lists() == self.boot_lists
        assert not k.log.grep("Bad page state")
        k.close()


AllocatorMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
test_allocator_state_machine = AllocatorMachine.TestCase
