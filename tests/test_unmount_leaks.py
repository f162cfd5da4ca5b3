"""The report at unmount of a cache still holding objects, in the mounted kernel's
words (scullcfs/cli.py report_slab_leaks, run after the drivers' cleanup).

Expected texts: 2.6.18 mm/slab.c kmem_cache_destroy's slab_error(cachep, "Can't free
all objects") ("slab error in %s(): cache `%s': %s"); 6.12 mm/slub.c list_slab_objects
(slab_bug(s, "Objects remaining on __kmem_cache_shutdown()")) and mm/slab_common.c
kmem_cache_destroy's WARN("%s %s: Slab cache still has objects when called from %pS").
"""
from __future__ import annotations

import re

import pytest

from allocator.kernel import Kernel
from scullcfs.cli import report_slab_leaks

GFP_KERNEL = {"2.6.18": 0xD0, "6.18": 0xCC0}
HWCACHE_ALIGN = {"2.6.18": 0x2000, "6.18": 0x10}


@pytest.fixture(params=["2.6.18", "6.18"])
def k(request):
    kernel = Kernel(version=request.param, mem=64 << 20)
    yield kernel
    kernel.close()


def create(k: Kernel, name: str):
    release = k.version.release
    if release == "2.6.18":
        return k.kmem_cache_create(name, 4000, 0, HWCACHE_ALIGN[release], None, None)
    return k.kmem_cache_create(name, 4000, 0, HWCACHE_ALIGN[release], None)


def log_since(k: Kernel, mark: int) -> list[str]:
    return [r.text for r in list(k.log.records)[mark:]]


def test_a_cache_left_with_objects_is_reported_in_the_kernels_words(k):
    cache = create(k, "leaky")
    assert cache is not None
    assert k.kmem_cache_alloc(cache, GFP_KERNEL[k.version.release]) is not None
    mark = len(list(k.log.records))
    report_slab_leaks(k)
    text = "\n".join(log_since(k, mark))
    if k.version.release == "2.6.18":
        assert text == "slab error in kmem_cache_destroy(): cache `leaky': Can't free all objects"
    else:
        assert "slab error" not in text and "Can't free all objects" not in text
        assert "BUG leaky (Not tainted): Objects remaining on __kmem_cache_shutdown()" in text
        assert "\nObject 0x" in text and " objects=8 used=1 " in text   # 4032-byte slots, 8 per order-3 slab
        # %pS of the unload path's caller: function+0xoffset/0xsize
        assert re.search(r"^kmem_cache_destroy leaky: Slab cache still has objects when called from"
                         r" \w*do_sys_delete_module\+0x[0-9a-f]+/0x[0-9a-f]+$", text, re.M), text
        assert "WARNING: CPU: " in text and " at mm/slab_common.c:548 kmem_cache_destroy+" in text
        assert cache not in k.caches()           # 6.18 unlinks it even when objects remain
        assert k.slab_leaks() == []


def test_no_leak_no_report(k):
    cache = create(k, "tidy")
    assert cache is not None
    obj = k.kmem_cache_alloc(cache, GFP_KERNEL[k.version.release])
    k.kmem_cache_free(cache, obj)
    mark = len(list(k.log.records))
    report_slab_leaks(k)
    assert log_since(k, mark) == []


def test_6_18_merged_caches_are_reported_once_under_the_first_name():
    k = Kernel(version="6.18", mem=64 << 20)
    try:
        first, second = create(k, "scullc"), create(k, "scullm")
        assert first is second                 # find_mergeable: same size and flags, one :0004032 cache
        assert k.kmem_cache_alloc(second, GFP_KERNEL["6.18"]) is not None
        mark = len(list(k.log.records))
        report_slab_leaks(k)
        text = "\n".join(log_since(k, mark))
        assert text.count("Slab cache still has objects") == 1
        assert "kmem_cache_destroy scullc: Slab cache still has objects" in text
        assert first not in k.caches()
    finally:
        k.close()
