"""/proc/slabinfo as SLUB prints it and /sys/kernel/slab/<cache>/ of Linux 6.18.

/proc/slabinfo (mm/slab_common.c slab_show, cache_show, print_slabinfo_header;
mm/slub.c get_slabinfo): the caches of slab_caches, newest first, each under its
own name (a merged cache shows only once, under the name of the cache the others
were merged into); active_objs is total minus the free objects of the node
partial lists (count_partial_free_approx), so free objects of CPU slabs and CPU
partial slabs count as active; tunables are 0 0 0 and sharedavail 0. The file is
0400 and has no write (EIO).

/sys/kernel/slab (mm/slub.c sysfs_slab_add, sysfs_slab_alias, create_unique_id,
the SLAB_ATTR_RO/SLAB_ATTR attributes): an unmergeable cache is a directory
under its name; a mergeable one a directory `:[flags-]size` with its name, and
every alias merged into it later, as symlinks to it. slab_attrs() gives a
cache's attribute files as {name: (mode, read, write)}: read() returns the
file's text, write(data) stores it or raises OSError with the errno the kernel
returns (kstrtouint/kstrtoul: EINVAL, ERANGE). Read-only files are 0400 and
have no write (the kernel refuses the open: EACCES).

The functions depend only on the SLUB state (slub.py), not on the mount:
materialise() writes a layout into a real directory (the tools/mm/slabinfo test).
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import slub as S
from . import slub_debug as D

if TYPE_CHECKING:
    from .slub import KmemCache, KmemCacheNode, Slab, SlabAllocator

Reader = Callable[[], str]
Writer = Callable[[bytes], None]
SlabAttr = tuple[int, Reader, Writer | None]

SLABINFO_MODE = 0o400          # mm/slab_common.c SLABINFO_RIGHTS
SLAB_ATTR_RO = 0o400           # __ATTR_RO_MODE(_name, 0400)
SLAB_ATTR_RW = 0o600           # __ATTR_RW_MODE(_name, 0600)
ULLONG_MAX = (1 << 64) - 1

SLABINFO_HEADER = (
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
    " : tunables <limit> <batchcount> <sharedfactor>"
    " : slabdata <active_slabs> <num_slabs> <sharedavail>\n"
)


# -- the SLUB state read here ------------------------------------------------------


def partial_slabs(n: KmemCacheNode) -> list[Slab]:
    return list(n.partial)


# -- /proc/slabinfo ----------------------------------------------------------------


def cache_show(s: KmemCache) -> str:
    """mm/slab_common.c cache_show: one line."""
    active_objs, num_objs, active_slabs, num_slabs, objects_per_slab, cache_order = S.get_slabinfo(s)
    limit = batchcount = shared = shared_avail = 0      # SLUB has no tunables
    return (f"{s.name:<17} {active_objs:6} {num_objs:6} {s.size:6} {objects_per_slab:4}"
            f" {1 << cache_order:4} : tunables {limit:4} {batchcount:4} {shared:4}"
            f" : slabdata {active_slabs:6} {num_slabs:6} {shared_avail:6}\n")


def slabinfo_show(sl: SlabAllocator) -> str:
    """The whole /proc/slabinfo: the header, then slab_caches (newest first)."""
    caches = list(sl.slab_caches)
    if not caches:
        return ""
    return SLABINFO_HEADER + "".join(cache_show(s) for s in caches)


def slabinfo_write(data: bytes) -> None:
    """/proc/slabinfo has no write op in SLUB: the VFS answers EIO."""
    raise OSError(errno.EIO, "slabinfo: SLUB has no tunables")


# -- show_slab_objects and the attributes ------------------------------------------

SO_ALL, SO_PARTIAL, SO_CPU, SO_OBJECTS, SO_TOTAL = 1, 2, 4, 8, 16


def show_slab_objects(sl: SlabAllocator, s: KmemCache, flags: int) -> str:
    """mm/slub.c show_slab_objects: the total, then ` N<node>=<n>` for each node
    with a non-zero count (CONFIG_NUMA)."""
    nodes: dict[int, int] = {}
    total = 0

    def add(nid: int, x: int) -> None:
        nonlocal total
        total += x
        nodes[nid] = nodes.get(nid, 0) + x

    if flags & SO_CPU:
        for c in s.cpu_slab:
            slab = c.slab
            if slab is None:
                continue
            if flags & SO_TOTAL:
                x = slab.objects
            elif flags & SO_OBJECTS:
                x = slab.inuse
            else:
                x = 1
            add(slab.node, x)
            head = c.partial
            if head is not None:
                # SO_TOTAL/SO_OBJECTS: WARN_ON_ONCE in the kernel, and x stays as it was
                if not flags & (SO_TOTAL | SO_OBJECTS):
                    x = head.slabs
                add(head.node, x)
    if flags & SO_ALL:
        for nid, n in s.nodes():
            if flags & SO_TOTAL:
                x = n.total_objects
            elif flags & SO_OBJECTS:
                x = n.total_objects - sum(slab.objects - slab.inuse for slab in partial_slabs(n))
            else:
                x = n.nr_slabs
            add(nid, x)
    elif flags & SO_PARTIAL:
        for nid, n in s.nodes():
            if flags & SO_TOTAL:
                x = sum(slab.objects for slab in partial_slabs(n))
            elif flags & SO_OBJECTS:
                x = sum(slab.inuse for slab in partial_slabs(n))
            else:
                x = n.nr_partial
            add(nid, x)
    return f"{total}" + "".join(f" N{nid}={x}" for nid, x in sorted(nodes.items()) if x) + "\n"


def slabs_cpu_partial_show(s: KmemCache) -> str:
    """`objects(slabs)` over the online CPUs, then ` C<cpu>=objects(slabs)` for
    each CPU with a partial chain; objects = slabs * objs_per_slab / 2."""
    heads = [(cpu, c.partial) for cpu, c in enumerate(s.cpu_slab)]
    slabs = sum(h.slabs for _, h in heads if h is not None)
    out = f"{slabs * s.objects // 2}({slabs})"
    for cpu, h in heads:
        if h is not None:
            out += f" C{cpu}={h.slabs * s.objects // 2}({h.slabs})"
    return out + "\n"


def _parse_integer(text: bytes) -> tuple[int, int]:
    """lib/kstrtox.c _parse_integer_limit, base 10: (value, digits); value -1 on
    overflow of unsigned long long. The kernel keeps a 64-bit value and only
    flags an overflow; here the digits are counted first and at most 20
    significant ones converted, so a write of a long run of digits (a sysfs
    write takes up to PAGE_SIZE of them) costs no more than its length."""
    n = len(text) - len(text.lstrip(b"0123456789"))
    significant = text[:n].lstrip(b"0")
    if len(significant) > len(str(ULLONG_MAX)):
        return -1, n
    value = int(significant) if significant else 0
    return (-1 if value > ULLONG_MAX else value), n


def kstrtoull(data: bytes, limit: int = (1 << 64) - 1) -> int:
    """lib/kstrtox.c kstrtoull (base 10), and kstrtouint/kstrtoul through
    `limit`: an optional '+', digits, one optional newline; OSError EINVAL for
    anything else, ERANGE past the type."""
    s = data.split(b"\0", 1)[0]
    if s[:1] == b"+":
        s = s[1:]
    value, n = _parse_integer(s)
    if value < 0 and n:
        raise OSError(errno.ERANGE, "value out of range")
    if n == 0:
        raise OSError(errno.EINVAL, "not a number")
    rest = s[n:]
    if rest[:1] == b"\n":
        rest = rest[1:]
    if rest:
        raise OSError(errno.EINVAL, "not a number")
    if value > limit:
        raise OSError(errno.ERANGE, "value out of range")
    return value


def kstrtouint(data: bytes) -> int:
    return kstrtoull(data, 0xFFFFFFFF)


def kstrtoul(data: bytes) -> int:
    return kstrtoull(data, (1 << 64) - 1)


def ctor_show(s: KmemCache) -> str:
    """`%pS` of the constructor, or nothing."""
    if s.ctor is None:
        return ""
    name = getattr(s.ctor, "__name__", "ctor").strip("_") or "ctor"
    code = getattr(s.ctor, "__code__", None)
    size = len(code.co_code) if code is not None else 0
    return f"{name}+0x0/0x{size:x}\n"


def slab_attrs(sl: SlabAllocator, s: KmemCache) -> dict[str, SlabAttr]:
    """The attribute files of /sys/kernel/slab/<cache>/ on this 6.18 config
    (SLUB_DEBUG, CPU_PARTIAL, NUMA, ZONE_DMA, HARDENED_USERCOPY; no FAILSLAB,
    KFENCE or SLUB_STATS), in the kernel's slab_attrs[] order."""

    def u(value: Callable[[], int]) -> Reader:
        return lambda: f"{value()}\n"

    def flag(bit: int) -> Reader:
        return lambda: f"{1 if s.flags & bit else 0}\n"

    def objects(flags: int) -> Reader:
        return lambda: show_slab_objects(sl, s, flags)

    def min_partial_store(data: bytes) -> None:
        s.min_partial = kstrtoul(data)

    def cpu_partial_show() -> str:
        return f"{s.cpu_partial}\n"

    def cpu_partial_store(data: bytes) -> None:
        objs = kstrtouint(data)
        if objs and not S.kmem_cache_has_cpu_partial(s):
            raise OSError(errno.EINVAL, "a debug cache has no CPU partial slabs")
        S.slub_set_cpu_partial(s, objs)
        S.flush_all(sl, s)

    def aliases_show() -> str:
        return f"{0 if s.refcount < 0 else s.refcount - 1}\n"

    def validate_store(data: bytes) -> None:
        if not (data[:1] == b"1" and S.kmem_cache_debug(s)):
            raise OSError(errno.EINVAL, "validate: write 1 (debug caches only)")
        D.validate_slab_cache(sl, s)

    def shrink_store(data: bytes) -> None:
        if data[:1] != b"1":
            raise OSError(errno.EINVAL, "shrink: write 1")
        S.kmem_cache_shrink(sl, s)

    def remote_node_defrag_ratio_show() -> str:
        return f"{s.remote_node_defrag_ratio // 10}\n"

    def remote_node_defrag_ratio_store(data: bytes) -> None:
        ratio = kstrtouint(data)
        if ratio > 100:
            raise OSError(errno.ERANGE, "remote_node_defrag_ratio: 0..100")
        s.remote_node_defrag_ratio = ratio * 10

    ro, rw = SLAB_ATTR_RO, SLAB_ATTR_RW
    attrs: dict[str, SlabAttr] = {
        "slab_size": (ro, u(lambda: s.size), None),
        "object_size": (ro, u(lambda: s.object_size), None),
        "objs_per_slab": (ro, u(lambda: s.objects), None),
        "order": (ro, u(lambda: s.order), None),
        "sheaf_capacity": (ro, u(lambda: getattr(s, "sheaf_capacity", 0)), None),
        "min_partial": (rw, u(lambda: s.min_partial), min_partial_store),
        "cpu_partial": (rw, cpu_partial_show, cpu_partial_store),
        "objects_partial": (ro, objects(SO_PARTIAL | SO_OBJECTS), None),
        "partial": (ro, objects(SO_PARTIAL), None),
        "cpu_slabs": (ro, objects(SO_CPU), None),
        "ctor": (ro, lambda: ctor_show(s), None),
        "aliases": (ro, aliases_show, None),
        "align": (ro, u(lambda: s.align), None),
        "hwcache_align": (ro, flag(S.SLAB_HWCACHE_ALIGN), None),
        "reclaim_account": (ro, flag(S.SLAB_RECLAIM_ACCOUNT), None),
        "destroy_by_rcu": (ro, flag(S.SLAB_TYPESAFE_BY_RCU), None),
        "shrink": (rw, lambda: "", shrink_store),
        "slabs_cpu_partial": (ro, lambda: slabs_cpu_partial_show(s), None),
        "total_objects": (ro, objects(SO_ALL | SO_TOTAL), None),
        "objects": (ro, objects(SO_ALL | SO_OBJECTS), None),
        "slabs": (ro, objects(SO_ALL), None),
        "sanity_checks": (ro, flag(S.SLAB_CONSISTENCY_CHECKS), None),
        "trace": (ro, flag(S.SLAB_TRACE), None),
        "red_zone": (ro, flag(S.SLAB_RED_ZONE), None),
        "poison": (ro, flag(S.SLAB_POISON), None),
        "store_user": (ro, flag(S.SLAB_STORE_USER), None),
        "validate": (rw, lambda: "", validate_store),
        "cache_dma": (ro, flag(S.SLAB_CACHE_DMA), None),
        "usersize": (ro, u(lambda: s.usersize), None),
        "remote_node_defrag_ratio": (rw, remote_node_defrag_ratio_show, remote_node_defrag_ratio_store),
    }
    return attrs


# -- the directory layout ----------------------------------------------------------------


@dataclass
class SysfsLayout:
    """/sys/kernel/slab: the directories (name -> cache) and the symlinks (name -> directory)."""
    dirs: dict[str, KmemCache]
    links: dict[str, str]


def sysfs_layout(sl: SlabAllocator) -> SysfsLayout:
    """Every cache of slab_caches: a directory, and for a mergeable one the
    symlinks of its name and its aliases (sysfs_slab_alias), oldest first."""
    dirs: dict[str, KmemCache] = {}
    links: dict[str, str] = {}
    for s in reversed(list(sl.slab_caches)):
        name = S.sysfs_name(sl, s)
        dirs[name] = s
        links.pop(name, None)                 # sysfs_remove_link of a leftover
        for alias in S.sysfs_links(sl, s):
            links[alias] = name
    return SysfsLayout(dirs, links)


def attr_files(sl: SlabAllocator, s: KmemCache) -> Iterable[tuple[str, int, str]]:
    """(name, mode, contents) of a cache's attributes, contents read now."""
    for name, (mode, read, _) in slab_attrs(sl, s).items():
        yield name, mode, read()


def materialise(sl: SlabAllocator, root: str) -> None:
    """Write /sys/kernel/slab as it is now into directory `root` (which must
    exist and be empty): real directories, files with their modes and contents,
    relative symlinks."""
    layout = sysfs_layout(sl)
    for dname, s in layout.dirs.items():
        d = os.path.join(root, dname)
        os.mkdir(d, 0o755)
        for name, mode, text in attr_files(sl, s):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, mode)
    for lname, target in layout.links.items():
        os.symlink(target, os.path.join(root, lname))
