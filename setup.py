"""The compiled core: mypyc compiles allocator/ to C at `pip install`.

Every module under allocator/ is compiled (a new kernel version's files are picked
up by the glob) except the few in PURE_MODULES, which stay interpreted:

    allocator/__init__.py   chooses, at import, the compiled or the pure build
                            (SCULLCFS_PURE_PYTHON=1) and loads the pure twin
    allocator/_pure.py      the pure twin (see there)
    allocator/kernel.py     the facade: binds the API, takes attributes from tests
    allocator/trace.py      walks the Python stack for call sites (tracing only)

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
}


def compiled_modules() -> list[str]:
    paths = sorted(glob.glob("allocator/**/*.py", recursive=True))
    return [p for p in paths if p not in PURE_MODULES and "/__pycache__/" not in p]


def ext_modules() -> list:
    if os.environ.get("SCULLCFS_PURE_PYTHON") == "1":
        return []
    if "egg_info" in sys.argv[1:2] or "dist_info" in sys.argv[1:2]:
        return []   # metadata only: nothing to compile
    from mypyc.build import mypycify
    # group_name: the shared runtime library is scullcfs_core__mypyc (top level)
    return mypycify(compiled_modules(), opt_level="3", group_name="scullcfs_core")


setup(ext_modules=ext_modules())
