"""A 2.6-era Linux memory allocator, simulated in plain Python.

    from allocator import Kernel, gfp
    k = Kernel(mem=64 << 20)
    c = k.kmem_cache_create("demo", 100, 0, 0)
    obj = k.kmem_cache_alloc(c, gfp.GFP_KERNEL)
"""
from . import gfp, procfs, slab  # noqa: F401
from .kernel import Kernel, parse_size  # noqa: F401
