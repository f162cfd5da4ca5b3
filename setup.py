"""The compiled core: mypyc compiles allocator/ to C at `pip install`.

Every module under allocator/ is compiled (a new kernel version's files are picked
up by the glob) except the few in PURE_MODULES, which stay interpreted:

    allocator/__init__.py   chooses, at import, the compiled or the pure build
                            (SCULLCFS_PURE_PYTHON=1) and loads the pure twin
    allocator/_pure.py      the pure twin (see there)
    allocator/kernel.py     the facade: binds the API, takes attributes from tests
    allocator/trace.py      walks the Python stack for call sites (tracing only)
    allocator/memmap.py     the Pillow picture of memory (not an allocation path)
    allocator/linux618/...  6.18's reports that read Python frames, mempool and
                            vmalloc, and a few parts that behave differently
                            compiled (see PURE_MODULES)

`SCULLCFS_PURE_PYTHON=1 pip install ...` installs the interpreted source only
(no compiler, no mypy). The same variable at run time runs the .py files even
where the compiled modules are installed. See README "The compiled core".
"""
from __future__ import annotations

import glob
import os
import sys

from setuptools import setup

PURE_MODULES = {
    "allocator/__init__.py",
    "allocator/_pure.py",
    "allocator/kernel.py",
    "allocator/trace.py",
    # draws the memory map with Pillow (scullcfs memmap): not on an allocation path,
    # and Pillow is not in the build environment mypyc type-checks in
    "allocator/memmap.py",
    # Linux 6.18's reports that print stacks read off Python frames (warn_alloc's
    # and the OOM killer's dump_stack, SLUB's WARN/BUG and slab_debug tracks,
    # fault injection's stack). page_alloc.py and slub.py are compiled: their entry
    # points hand a call that could report to the pure twin, whole
    # (allocator/_pure.py interpreted(); page_alloc.alloc_may_report, slub's
    # _slow_alloc_may_report and _free_twin). The reports themselves stay here:
    "allocator/linux618/slub_debug.py",
    "allocator/linux618/show_mem.py",
    "allocator/linux618/oom_kill.py",
    # mempool's and vmalloc's functions are on the call traces warn_alloc prints
    # (mempool_alloc, __vmalloc_node_range, ...) and call the compiled entry points
    "allocator/linux618/mempool.py",
    "allocator/linux618/vmalloc.py",
    # compiled, FaultAttr's bool knobs reject the ints the debugfs writes and the
    # defaults table store (a native attribute checks its declared type)
    "allocator/linux618/fault_inject.py",
    # linux618/fault_inject.py's FaultAttr618 and FaultInject subclass these, and an
    # interpreted class cannot subclass a compiled one (only hit when a fault is armed)
    "allocator/fault_inject.py",
    # Kmem618Format.events is a class attribute read off the class (tracefs lists it):
    # on a native class that is the attribute's descriptor, not the tuple
    "allocator/linux618/trace_format.py",
}


def compiled_modules() -> list[str]:
    paths = sorted(glob.glob("allocator/**/*.py", recursive=True))
    return [p for p in paths if p not in PURE_MODULES and "/__pycache__/" not in p]


def remove_stale_extensions() -> None:
    """An editable install leaves compiled modules beside their sources: one of a
    module now in PURE_MODULES would still be imported instead of its .py."""
    for path in PURE_MODULES:
        for stale in glob.glob(path[:-len(".py")] + ".*.so"):
            os.remove(stale)


def ext_modules() -> list:
    if os.environ.get("SCULLCFS_PURE_PYTHON") == "1":
        return []
    if "egg_info" in sys.argv[1:2] or "dist_info" in sys.argv[1:2]:
        return []   # metadata only: nothing to compile
    remove_stale_extensions()
    from mypyc.build import mypycify
    # group_name: the shared runtime library is scullcfs_core__mypyc (top level)
    return mypycify(compiled_modules(), opt_level="3", group_name="scullcfs_core")


setup(ext_modules=ext_modules())
