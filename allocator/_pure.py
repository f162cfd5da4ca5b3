"""Which build of the allocator runs: the mypyc-compiled modules or their source.

setup.py compiles allocator/ with mypyc at `pip install` (a module X.py beside its
X.cpython-*.so). Importing `allocator` calls `choose()` before any other of its
modules is imported:

- SCULLCFS_PURE_PYTHON=1 in the environment, no compiled modules, or (in a
  checkout) a .py file newer than its compiled module: a finder on sys.meta_path
  loads every allocator module from its .py file. BUILD says which and why.
- otherwise the compiled modules run (COMPILED is True).

A compiled function has no Python frame, and three things read the simulated
kernel's stack off Python frames: trace events' call_site= (trace.py), slab
debugging's "last user" records (slab_debug.py) and the stack dumps of an
allocation failure (page_alloc.dump_stack, vmalloc.dump_stack). So that they
print exactly what the interpreted build prints, a compiled kernel that needs
them runs the *pure twin*: each module's source loaded once more
(allocator._twin.X) with its classes, constants and module state replaced by
the compiled module's own objects, so that the twin's functions act on the very
same native objects, with frames. `select(kernel)` binds a kernel's API to the
twin while tracing or slab debugging is on, and back to the compiled functions
when it is off again.

Linux 6.18's reports print call traces on every allocation failure, OOM kill
and SLUB warning, not only while tracing. There a compiled entry point (the
API a caller reaches: kmem_cache_alloc, kmalloc, kfree, alloc_pages, ...) first
tests whether the call could reach such a report (the page allocator's slow
path, a bad free, a debug cache, fault injection); if it could, the whole call
runs in the twin (`interpreted(__name__)`), whose frames are the very ones the
interpreted build has. The test comes before the call changes anything, so the
twin starts from the state the call found.
"""
from __future__ import annotations

import dis
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import FrameType, FunctionType, MethodType, ModuleType
from typing import Any

PACKAGE = "allocator"
TWIN = "allocator._twin"
ROOT = Path(__file__).resolve().parent
ENV = "SCULLCFS_PURE_PYTHON"
GROUP = "scullcfs_core"   # setup.py: mypycify(group_name=...)

COMPILED = False
BUILD = "pure Python"


def _module_sources() -> dict[str, Path]:
    """allocator.X -> X.py, for every module of the package (subpackages too)."""
    out: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [PACKAGE, *rel.parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _compiled_file(source: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def _group_mtime() -> float:
    """When the shared library of the compiled modules was built (setup.py's
    group_name): a rebuild relinks it, not every module's small shim."""
    libs = [p for suffix in importlib.machinery.EXTENSION_SUFFIXES
            for p in ROOT.parent.glob(GROUP + "__mypyc" + suffix)]
    return max((p.stat().st_mtime for p in libs), default=0.0)


class _SourceFinder(importlib.abc.MetaPathFinder):
    """allocator.X from X.py, never from a compiled module beside it."""

    def __init__(self, sources: dict[str, Path]):
        self.sources = sources

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        search = [str(source.parent)] if source.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(fullname, source, submodule_search_locations=search)


def choose() -> None:
    """Decide the build, once, before the package's other modules are imported."""
    global COMPILED, BUILD
    sources = _module_sources()
    compiled = {name: _compiled_file(src) for name, src in sources.items()}
    built = {name: so for name, so in compiled.items() if so is not None}
    if os.environ.get(ENV) == "1":
        reason = f"pure Python ({ENV}=1)"
    elif not built:
        reason = "pure Python (not compiled)"
    elif (ROOT.parent / "setup.py").exists() and any(
            sources[name].stat().st_mtime > max(so.stat().st_mtime, _group_mtime()) for name, so in built.items()):
        # a checkout whose sources changed since `pip install -e .` compiled them
        reason = "pure Python (the compiled modules are older than their source: reinstall to rebuild)"
    else:
        COMPILED, BUILD = True, "compiled (mypyc)"
        sys.meta_path.insert(0, _TwinFinder(sources))
        return
    BUILD = reason
    if built:
        sys.meta_path.insert(0, _SourceFinder(sources))


# -- the pure twin of a compiled build -----------------------------------------


class _TwinLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        real = importlib.import_module(PACKAGE + module.__name__[len(TWIN):])
        ns = module.__dict__
        replaced: dict[int, Any] = {}
        for name, value in list(ns.items()):
            if name.startswith("__") and name.endswith("__"):
                continue
            if isinstance(value, (FunctionType, ModuleType)):
                continue          # the twin's own functions (with frames) and modules
            if name in real.__dict__:
                ns[name] = real.__dict__[name]   # classes, constants, state: the compiled ones
                replaced[id(value)] = ns[name]
        for value in ns.values():
            # default arguments were evaluated before the replacement (owner=PAGES)
            if isinstance(value, FunctionType) and value.__module__ == module.__name__:
                if value.__defaults__:
                    value.__defaults__ = tuple(replaced.get(id(d), d) for d in value.__defaults__)
                if value.__kwdefaults__:
                    value.__kwdefaults__ = {n: replaced.get(id(d), d) for n, d in value.__kwdefaults__.items()}


class _TwinFinder(importlib.abc.MetaPathFinder):
    """allocator._twin.X: X.py loaded by _TwinLoader."""

    def __init__(self, sources: dict[str, Path]):
        self.sources = sources

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != TWIN and not fullname.startswith(TWIN + "."):
            return None
        source = self.sources.get(PACKAGE + fullname[len(TWIN):])
        if source is None:
            return None
        search = [str(source.parent)] if source.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(fullname, source, loader=_TwinLoader(fullname, str(source)),
                                                      submodule_search_locations=search)


def _is_compiled(module: ModuleType) -> bool:
    """Is the module a compiled one (setup.py's PURE_MODULES are not)?"""
    return str(getattr(module, "__file__", "")).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def twin(module: ModuleType) -> ModuleType:
    """The pure twin of an allocator module (the module itself when not compiled:
    the pure build, or one of setup.py's PURE_MODULES, which has its frames and
    whose module globals, such as linux618/page_alloc's hooks, stay the ones
    that tests and the kernel reassign)."""
    if not COMPILED or module.__name__.startswith(TWIN) or not _is_compiled(module):
        return module
    if TWIN not in sys.modules:
        # the twin package is only a namespace: allocator/__init__.py does not run again
        package = ModuleType(TWIN)
        package.__path__ = [str(ROOT)]
        package.__package__ = TWIN
        sys.modules[TWIN] = package
    return importlib.import_module(TWIN + module.__name__[len(PACKAGE):])


_INTERPRETED: dict[str, ModuleType | None] = {}


def interpreted(name: str) -> ModuleType | None:
    """The pure twin of allocator module `name` while that module runs compiled;
    None when it runs interpreted (the pure build, the twin itself, one of
    setup.py's PURE_MODULES). A compiled entry point hands a call whose report
    would read Python frames to it (see the module docstring)."""
    try:
        return _INTERPRETED[name]
    except KeyError:
        module = sys.modules[name]
        other = twin(module)
        _INTERPRETED[name] = found = None if other is module else other
        return found


_PRECALL = dis.opmap.get("PRECALL")
_CALL = dis.opmap.get("CALL")
_CACHE = dis.opmap.get("CACHE")


def frame_lasti(frame: FrameType) -> int:
    """frame.f_lasti as the interpreted build has it. A frame that calls a
    Python function stands on the last inline cache entry of its CALL (3.11+);
    one that calls a compiled function stands on the CALL itself, or on its
    PRECALL (3.11's specialised builtin calls). A call that a compiled entry
    point hands to the twin has the second kind of caller where the
    interpreted build has the first: the offsets that call sites print are
    this, not f_lasti."""
    lasti = frame.f_lasti
    code = frame.f_code.co_code
    if _CALL is None or lasti < 0 or code[lasti] not in (_PRECALL, _CALL):
        return lasti
    at = lasti
    if code[at] == _PRECALL:
        at += 2
        while at < len(code) and code[at] == _CACHE:
            at += 2
        if at >= len(code) or code[at] != _CALL:
            return lasti
    while at + 2 < len(code) and code[at + 2] == _CACHE:
        at += 2
    return at


def primary(name: str) -> ModuleType:
    """The allocator module itself for its twin's name (or its own): where the
    module attributes that tests and the kernel reassign at run time live."""
    if name.startswith(TWIN + "."):
        name = PACKAGE + name[len(TWIN):]
    return sys.modules[name]


def _counterpart(func: Any, pure: bool) -> Any:
    """The same function in the twin (pure) or the compiled module (not pure)."""
    modname = getattr(func, "__module__", None) or ""
    name = getattr(func, "__name__", None)
    if name is None or not modname.startswith(PACKAGE + "."):
        return func
    is_twin = modname.startswith(TWIN + ".")
    if is_twin == pure:
        return func
    if pure and not _is_compiled(sys.modules[modname]):
        return func      # an interpreted module's function already has its frames
    target = twin(sys.modules[modname]) if pure else sys.modules[PACKAGE + modname[len(TWIN):]]
    return getattr(target, name, func)


def select(obj: Any, pure: bool) -> None:
    """Bind every allocator function `obj` holds as a bound method (the Kernel's
    API) to the twin (pure) or to the compiled module (not pure)."""
    if not COMPILED:
        return
    _rebind(obj, list(vars(obj)), pure)
    # callables the allocator keeps in its state: mempools' alloc/free, shrinkers
    mempools = getattr(obj, "mempools", None)
    for pool in getattr(mempools, "pools", ()):
        _rebind(pool, ["alloc", "free"], pure)
    vmscan = getattr(obj, "vmscan", None)
    for shrinker in getattr(vmscan, "shrinkers", ()):
        _rebind(shrinker, ["shrink"], pure)


def _rebind(obj: Any, names: list[str], pure: bool) -> None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, MethodType):
            func = _counterpart(value.__func__, pure)
            if func is not value.__func__:
                setattr(obj, name, MethodType(func, value.__self__))
        elif isinstance(value, partial):
            func = _counterpart(value.func, pure)
            args = tuple(_module_counterpart(a, pure) for a in value.args)
            if func is not value.func or any(a is not b for a, b in zip(args, value.args)):
                setattr(obj, name, partial(func, *args, **value.keywords))


def _module_counterpart(value: Any, pure: bool) -> Any:
    """An allocator module passed as an argument (a version's slab module that
    background.shrink_background frees through): its twin (pure) or itself."""
    if not isinstance(value, ModuleType) or not value.__name__.startswith(PACKAGE + "."):
        return value
    if pure:
        return twin(value)
    if value.__name__.startswith(TWIN + "."):
        return sys.modules[PACKAGE + value.__name__[len(TWIN):]]
    return value
