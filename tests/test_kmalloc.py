"""kmalloc and friends on the general caches (2.6 include/linux/kmalloc_sizes.h)."""
from __future__ import annotations

import pytest

from allocator import gfp as G
from allocator import slab as SL
from allocator.slab import Slab


@pytest.fixture
def k(kernel):
    return kernel(mem=64 << 20, cpus=2)


def cache_of(kernel, addr):
    owner = kernel.mem_map[addr >> 12]
    assert isinstance(owner, Slab)
    return owner.cache


@pytest.mark.parametrize("size, name", [
    (1, "size-32"), (32, "size-32"), (33, "size-64"), (64, "size-64"), (65, "size-128"),
    (200, "size-256"), (512, "size-512"), (513, "size-1024"), (2000, "size-2048"),
    (4000, "size-4096"), (4096, "size-4096"), (4097, "size-8192"), (100000, "size-131072"),
    (131072, "size-131072"),
])
def test_kmalloc_rounds_up_to_the_next_size_class(k, size, name):
    addr = k.kmalloc(size, G.GFP_KERNEL)
    assert cache_of(k, addr).name == name
    assert k.ksize(addr) == int(name[5:]) >= size
    assert addr in k.find_cache(name).live


def test_kmalloc_has_192_but_no_96_class_with_64_byte_lines(k):
    names = [c.name for c in k.cache_chain]
    assert "size-96" not in names and "size-192" in names   # kmalloc_sizes.h: L1_CACHE_BYTES < 128
    assert cache_of(k, k.kmalloc(96, G.GFP_KERNEL)).name == "size-128"
    assert cache_of(k, k.kmalloc(192, G.GFP_KERNEL)).name == "size-192"


def test_kmalloc_above_128k_is_refused_with_a_log_line(k):
    before = [(c.name, c.slab_counts()) for c in k.cache_chain]
    records = len(k.log.records)
    assert k.kmalloc(131073, G.GFP_KERNEL) is None
    assert len(k.log.records) == records        # __do_kmalloc: NULL without a message
    assert [(c.name, c.slab_counts()) for c in k.cache_chain] == before


def test_kmalloc_128k_is_physically_contiguous(k):
    addr = k.kmalloc(131072, G.GFP_KERNEL)
    slab = k.mem_map[addr >> 12]
    assert k.mem_map[(addr >> 12):(addr >> 12) + 32] == [slab] * 32
    k.mem.fill(addr, 131072, 0x11)             # the whole range is ours to write


def test_kmalloc_gfp_dma_uses_the_dma_twin_below_16m(k):
    for size in (10, 300, 4000, 65536):
        addr = k.kmalloc(size, G.GFP_KERNEL | G.__GFP_DMA)
        assert cache_of(k, addr).name.endswith("(DMA)")
        assert addr + size <= 16 << 20
    plain = k.kmalloc(300, G.GFP_KERNEL)
    assert not cache_of(k, plain).name.endswith("(DMA)") and plain >= 16 << 20


def test_kmalloc_gfp_highmem_bugs_in_cache_grow(kernel):
    k = kernel(mem=1 << 30, cpus=1)
    before = k.find_cache("size-192").slab_counts()
    assert k.kmalloc(150, G.GFP_HIGHUSER) is None
    assert k.log.grep("kernel BUG at mm/slab.c:2602!")
    assert k.find_cache("size-192").slab_counts() == before


def test_kmalloc_does_not_zero_stale_bytes(k):
    addr = k.kmalloc(100, G.GFP_KERNEL)
    k.mem.fill(addr, 100, 0xA5)
    k.kfree(addr)
    again = k.kmalloc(100, G.GFP_KERNEL)
    assert again == addr                       # LIFO per-CPU array: the same object
    assert bytes(k.mem.read(again, 100)) == b"\xa5" * 100


def test_kzalloc_zeroes_the_object(k):
    addr = k.kmalloc(100, G.GFP_KERNEL)
    k.mem.fill(addr, 128, 0xA5)
    k.kfree(addr)
    again = k.kzalloc(100, G.GFP_KERNEL)
    assert again == addr
    assert bytes(k.mem.read(again, 100)) == bytes(100)


def test_kmalloc_with_gfp_zero_from_the_array_keeps_stale_bytes(k):
    addr = k.kmalloc(3000, G.GFP_KERNEL)
    k.mem.fill(addr, 3000, 0x77)
    k.kfree(addr)
    again = k.kmalloc(3000, G.GFP_KERNEL | G.__GFP_ZERO)   # not in 2.6.18's GFP_LEVEL_MASK
    assert again == addr and bytes(k.mem.read(again, 3000)) == b"\x77" * 3000


def test_kcalloc_zeroes_n_elements(k):
    addr = k.kmalloc(40, G.GFP_KERNEL)
    k.mem.fill(addr, 64, 0xEE)
    k.kfree(addr)
    arr = k.kcalloc(10, 4, G.GFP_KERNEL)
    assert arr == addr and bytes(k.mem.read(arr, 40)) == bytes(40)
    assert k.ksize(arr) == 64


@pytest.mark.parametrize("n, size", [(1 << 16, 1 << 16), (2, 0x40000000), (0x7FFFFFFF, 2)])
def test_kcalloc_overflow_returns_none(k, n, size):
    assert k.kcalloc(n, size, G.GFP_KERNEL) is None


def test_kcalloc_too_large_without_overflow_returns_none(k):
    assert k.kcalloc(2, 65537, G.GFP_KERNEL) is None


# include/linux/slab.h (2.6.18) kcalloc:
#     if (n != 0 && size > ULONG_MAX / n)
#             return NULL;
#     return kzalloc(n * size, flags);
# ULONG_MAX is 0xffffffff on i386. (n, ULONG_MAX / n, n * that), worked by hand:
KCALLOC_LARGEST = [
    (1, 0xFFFFFFFF, 4294967295),
    (2, 0x7FFFFFFF, 4294967294),
    (3, 0x55555555, 4294967295),        # 3 * 0x55555555 = 0xffffffff
    (4000, 1073741, 4294964000),        # 4294967295 / 4000 = 1073741 rem 3295
    (65537, 65535, 4294967295),         # 0x10001 * 0xffff = 0xffffffff
    (0xFFFFFFFF, 1, 4294967295),
]


def _watch_kzalloc(monkeypatch) -> list[int]:
    """The sizes kcalloc asks kzalloc for (slab.py's module-level kzalloc)."""
    asked: list[int] = []
    real_kzalloc = SL.kzalloc

    def kzalloc(s, size, flags):
        asked.append(size)
        return real_kzalloc(s, size, flags)
    monkeypatch.setattr(SL, "kzalloc", kzalloc)
    return asked


def _slab_state(k):
    return [(c.name, c.slab_counts()) for c in k.cache_chain], k.nr_free_pages()


@pytest.mark.pure_only   # kzalloc replaced in the module: compiled kcalloc calls its own
@pytest.mark.parametrize("n, largest, total", KCALLOC_LARGEST)
def test_kcalloc_of_ulong_max_over_n_passes_the_overflow_check_and_kmalloc_refuses_it(
        k, n, largest, total, monkeypatch):
    """kcalloc (include/linux/slab.h, 2.6.18): size == ULONG_MAX / n is not an overflow,
    so kzalloc(n * size) runs; __kmalloc then returns NULL, as the ULONG_MAX sentinel
    of malloc_sizes[] that __find_general_cachep stops at above size-131072 has no
    cache (silently: 2.6.18 prints nothing there). kzalloc is watched to see it asked."""
    asked = _watch_kzalloc(monkeypatch)
    before, records = _slab_state(k), len(k.log.records)
    assert k.kcalloc(n, largest, G.GFP_KERNEL) is None
    assert asked == [total]
    assert len(k.log.records) == records
    assert _slab_state(k) == before


@pytest.mark.pure_only   # kzalloc replaced in the module: compiled kcalloc calls its own
@pytest.mark.parametrize("n, largest, total", KCALLOC_LARGEST)
def test_kcalloc_of_one_byte_more_than_ulong_max_over_n_is_refused_before_kmalloc(
        k, n, largest, total, monkeypatch):
    """kcalloc (include/linux/slab.h, 2.6.18): size > ULONG_MAX / n returns NULL before
    kzalloc: nothing is allocated and kmalloc is never asked (no log line)."""
    asked = _watch_kzalloc(monkeypatch)
    before, records = _slab_state(k), len(k.log.records)
    assert k.kcalloc(n, largest + 1, G.GFP_KERNEL) is None
    assert asked == []
    assert len(k.log.records) == records
    assert _slab_state(k) == before


@pytest.mark.parametrize("size", [0, 1, 4096, 131073, 0xFFFFFFFF])
def test_kcalloc_of_zero_elements_is_kzalloc_of_zero_bytes_a_size_32_object(k, size):
    """kcalloc (include/linux/slab.h, 2.6.18): n == 0 skips the overflow check (no
    division) and asks kzalloc(0 * size) = kzalloc(0); 2.6.18's kmalloc(0) is a
    size-32 object (__find_general_cachep stops at the first class, 0 <= 32)."""
    c = k.find_cache("size-32")
    addr = k.kcalloc(0, size, G.GFP_KERNEL)
    assert addr is not None and cache_of(k, addr) is c and k.ksize(addr) == 32
    assert addr in c.live
    k.kfree(addr)


def test_ksize_is_the_usable_size_of_the_class(k):
    assert k.ksize(k.kmalloc(33, G.GFP_KERNEL)) == 64
    assert k.ksize(k.kmalloc(5000, G.GFP_KERNEL)) == 8192
    assert k.ksize(None) == 0


def test_ksize_of_a_non_slab_address_is_logged_and_zero(k):
    pfn = k.alloc_pages(G.GFP_KERNEL, 0)
    assert k.ksize(pfn << 12) == 0
    assert k.log.grep("kernel BUG at mm/slab.c:595!")       # page_get_cache


def test_kfree_none_is_a_no_op(k):
    records = len(k.log.records)
    k.kfree(None)
    assert len(k.log.records) == records


def test_kfree_returns_the_object_to_its_class(k):
    c = k.find_cache("size-256")
    addr = k.kmalloc(256, G.GFP_KERNEL)
    assert addr in c.live
    k.kfree(addr)
    assert addr not in c.live and addr in c.array[0].entry
    k.kfree(addr)                              # double kfree: logged, not raised
    assert k.log.grep("double free")


def test_off_slab_descriptors_come_from_a_smaller_general_cache(k):
    # a size-512 slab's descriptor (8*4 + 28 = 60 bytes) is a size-64 object
    size64 = k.find_cache("size-64")
    meta = len(size64.live)                    # kmem_list3s and small arrays
    k.kmalloc(512, G.GFP_KERNEL | G.__GFP_DMA)  # size-512(DMA) holds no metadata: a new slab
    assert len(size64.live) == meta + 1
    assert k.kmem_cache_shrink(k.find_cache("size-512(DMA)")) == 1   # the object is still out
    assert len(size64.live) == meta + 1


def test_kmalloc_on_one_cpu_and_kfree_on_another(k):
    k.set_current(0)
    objs = [k.kmalloc(150, G.GFP_KERNEL) for _ in range(200)]
    k.set_current(1)
    for o in objs:
        k.kfree(o)
    c = k.find_cache("size-192")               # no slab metadata lives there
    assert not c.live
    assert k.kmem_cache_shrink(c) == 0 and c.slab_counts() == (0, 0, 0, 0)


def test_kmalloc_zero_bytes_is_a_size_32_object_as_in_2_6_18(k):
    objp = k.kmalloc(0, G.GFP_KERNEL)
    assert objp is not None
    assert cache_of(k, objp).name == "size-32"
    k.kfree(objp)
