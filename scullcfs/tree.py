"""The mounted tree, declared as data: path -> File(mode, read, write, ...).

A file is declared with a `read` renderer (called once per open: one consistent
snapshot) and/or a `write` handler (called once per write(2) with the bytes; it
raises DeviceError or ValueError for bad input), or a `stream` (trace_pipe).
Every node belongs to one of the kernel's filesystems (procfs, sysctl, sysfs,
the /dev directory), which says the st_size of its files and the errnos of the
operations it refuses; a node is in the filesystem of the directory it is made
in, and `MOUNTS` says where each one starts. The tree is built from an explicit
list of feature modules (`feature_modules()`), each with a `declare_files(tree)`.
Directories may be dynamic (`sys/kernel/slab/` follows the cache chain).
"""
from __future__ import annotations

import errno
import functools
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from allocator import procfs
from allocator.kernel import Kernel
from allocator.parts import CachePart
from allocator.physmem import PAGE_SIZE
from allocator.slab import (
    SLAB_CACHE_DMA,
    SLAB_DESTROY_BY_RCU,
    SLAB_HWCACHE_ALIGN,
    SLAB_POISON,
    SLAB_RECLAIM_ACCOUNT,
    SLAB_RED_ZONE,
    SLAB_STORE_USER,
    KmemCache,
)
from allocator.trace import Tracer

from .errors import DeviceError

if TYPE_CHECKING:
    from .drivers import Device, Driver


class Settings(Protocol):
    """The daemon's own tunables (cli.Settings)."""
    alloc_wait_ms: int


class Stream(Protocol):
    """A blocking reader opened per open(2) (trace_pipe)."""
    async def read(self, size: int) -> bytes: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Filesystem:
    """One of the kernel's trees the mount stands for.

    `refused`: what it returns to its owner (root) for operations it does not
    support, measured on Linux 6.18 (tests/test_safety_mounted.py holds the
    measurement), in the order create, mkdir/mknod/symlink/link, unlink/rmdir,
    rename to a new name, rename onto an existing one. `superblock`: a rename
    between two different ones is EXDEV."""
    name: str
    file_size: int             # st_size of its virtual files
    refused: tuple[int, int, int, int, int]
    chmod_refused: bool        # chmod/chown fail with EPERM (timestamps can always be set)
    superblock: str


# procfs: a new name fails its lookup (ENOENT) before the VFS asks the
# directory; unlink, rmdir and rename onto an existing name are EPERM; its files
# have st_size 0. sysctl (proc/sys): write access to its directories is refused
# (EACCES), and so are chmod and chown. sysfs (kernfs): EPERM, except O_CREAT of
# a new name (no ->create: EACCES); a file's st_size is a page. procfs and sysfs
# let the owner change a node's mode and owner (proc_notify_change,
# kernfs_iop_setattr). dev: the devices are the drivers'; like /dev seen by a
# user other than root (root:root 0755), nothing is created, removed or renamed.
PROCFS = Filesystem("procfs", 0, (errno.ENOENT, errno.ENOENT, errno.EPERM, errno.ENOENT, errno.EPERM),
                    False, "proc")
SYSCTL = Filesystem("sysctl", 0, (errno.ENOENT, errno.ENOENT, errno.EACCES, errno.ENOENT, errno.EACCES),
                    True, "proc")
SYSFS = Filesystem("sysfs", PAGE_SIZE, (errno.EACCES, errno.EPERM, errno.EPERM, errno.EPERM, errno.EPERM),
                   False, "sys")
DEVFS = Filesystem("dev", 0, (errno.EACCES,) * 5, False, "dev")
# Where each filesystem starts (the root is DEVFS); debugfs is under sysfs.
MOUNTS = {"proc": PROCFS, "proc/sys": SYSCTL, "sys": SYSFS, "dev": DEVFS}


@dataclass(frozen=True)
class File:
    """A virtual file's declaration."""
    mode: int
    read: Callable[[], str] | None = None
    write: Callable[[bytes], None] | None = None
    # A blocking stream instead of a snapshot (trace_pipe): stream(pid) at open.
    stream: Callable[[int], Stream] | None = None
    # Served through the page cache with st_size = its latest snapshot's length:
    # `dmesg -F proc/kmsg` mmaps st_size bytes MAP_SHARED, which FUSE refuses on a
    # direct_io file (ENODEV), and mmap of 0 bytes is EINVAL.
    mappable: bool = False
    size: int | None = None  # st_size; None: its filesystem's file_size


@dataclass(eq=False)
class Node:
    name: str
    mode: int
    inode: int = 0
    parent: Node | None = None
    children: dict[str, Node] | None = None        # directories: name -> Node
    read: Callable[[], str] | None = None
    write: Callable[[bytes], None] | None = None
    device: Device | None = None
    populate: Callable[[Node], None] | None = None  # dynamic directories
    size: int = 0                                  # st_size for virtual files
    cache: CachePart | None = None                 # sys/kernel/slab/<cache>: the cache shown
    stream: Callable[[int], Stream] | None = None
    mappable: bool = False
    fs: Filesystem | None = None                   # None until registered: its parent's
    mtime_ns: int = field(default_factory=time.time_ns)
    uid: int | None = None                         # after a chown (None: the daemon's)
    gid: int | None = None
    target: str | None = None                      # a symlink's target (sys/kernel/slab aliases)

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    @property
    def filesystem(self) -> Filesystem:
        assert self.fs is not None, "a registered node has a filesystem"
        return self.fs

    def entries(self) -> dict[str, Node]:
        """A directory's children (empty for a file)."""
        return self.children if self.children is not None else {}

    def path(self) -> str:
        parts = []
        node = self
        while node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))


def _dir(name: str, mode: int = 0o755, fs: Filesystem | None = None) -> Node:
    return Node(name, stat.S_IFDIR | mode, children={}, fs=fs)


def decode(data: bytes) -> str:
    """A control file's value as text: ASCII, or EINVAL."""
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise DeviceError(errno.EINVAL, "not ASCII text") from None


def int_writer(setter: Callable[[int], None], lo: int, hi: int) -> Callable[[bytes], None]:
    """A writer for an integer control file, lo..hi (C syntax: 0x10, 010)."""
    def write(data: bytes) -> None:
        text = decode(data).strip()
        try:
            value = int(text, 0)
        except ValueError:
            raise DeviceError(errno.EINVAL, f"{text[:40]!r} is not a number") from None
        if not lo <= value <= hi:
            raise DeviceError(errno.EINVAL, f"{value} is outside {lo}..{hi}")
        setter(value)
    return write


def proc_dointvec(data: bytes) -> int:
    """One integer as 2.6.18 kernel/sysctl.c do_proc_dointvec parses a write:
    leading white space, an optional '-', simple_strtoul(p, &p, 0) (0x.. hex,
    0.. octal), then white space only; stored in an int (out of range: EINVAL,
    see below). Anything else is EINVAL (`write && first`). A
    second number (proc_dointvec of a one-int table stops after the first and
    returns a short count) is refused too, with EINVAL."""
    text = decode(data)
    body = text.strip(" \t\n\v\f\r")
    neg = body.startswith("-") and len(body) > 1
    digits = body[1:] if neg else body
    if not digits or not digits[0].isdigit():
        raise DeviceError(errno.EINVAL, f"{body[:40]!r} is not a number")
    if digits[:2].lower() == "0x" and len(digits) > 2:
        base, valid, start = 16, "0123456789abcdefABCDEF", 2
    elif digits[0] == "0":
        base, valid, start = 8, "01234567", 1
    else:
        base, valid, start = 10, "0123456789", 0
    rest = digits[start:]
    if any(c not in valid for c in rest):
        raise DeviceError(errno.EINVAL, f"{body[:40]!r} is not a number")
    value = -(int(rest, base) if rest else 0) if neg else (int(rest, base) if rest else 0)
    if not -(1 << 31) <= value < 1 << 31:
        # 2.6.18 parses at most 20 characters and wraps; the simulator refuses
        # a value that does not fit an int, as later kernels do (EINVAL)
        raise DeviceError(errno.EINVAL, f"{body[:40]!r} does not fit an int")
    return value


def switch_writer(setter: Callable[[bool], None]) -> Callable[[bytes], None]:
    """A writer for a 0/1 file."""
    def write(data: bytes) -> None:
        text = data.strip()
        if text not in (b"0", b"1"):
            raise DeviceError(errno.EINVAL, "write 0 or 1")
        setter(text == b"1")
    return write


Feature = Callable[["Tree"], None]


class Tree:
    """Inode table and the declared files of one mount."""

    def __init__(self, kernel: Kernel, drivers: Sequence[Driver], settings: Settings,
                 features: Sequence[Feature] | None = None):
        self.k = kernel
        self.drivers = list(drivers)
        self.settings = settings
        self.tracer: Tracer | None = None  # debugfs's tracing, once declared
        self.inodes: dict[int, Node] = {}
        self._next_inode = 1
        self.root = self._register(_dir("", fs=DEVFS), None)
        for path, fs in MOUNTS.items():
            self.add(path, _dir("", fs=fs))
        for declare_files in feature_modules() if features is None else features:
            declare_files(self)

    # -- building -----------------------------------------------------------

    def _register(self, node: Node, parent: Node | None) -> Node:
        node.inode = self._next_inode
        self._next_inode += 1
        node.parent = parent
        if parent is not None:
            if node.fs is None:
                node.fs = parent.fs
            parent.entries()[node.name] = node
        self.inodes[node.inode] = node
        return node

    def _parent_of(self, path: str) -> tuple[Node, str]:
        """The directory `path` goes in (made as needed), and its last name."""
        parent = self.root
        *dirs, name = path.split("/")
        for part in dirs:
            child = parent.entries().get(part)
            if child is None:
                child = self._register(_dir(part), parent)
            parent = child
        return parent, name

    def add(self, path: str, node: Node) -> Node:
        parent, name = self._parent_of(path)
        node.name = name
        return self._register(node, parent)

    def _file_node(self, name: str, f: File, parent: Node) -> Node:
        size = f.size if f.size is not None else parent.filesystem.file_size
        return self._register(Node(name, stat.S_IFREG | f.mode, read=f.read, write=f.write,
                                   stream=f.stream, mappable=f.mappable, size=size), parent)

    def declare(self, files: Mapping[str, File]) -> None:
        for path, f in files.items():
            parent, name = self._parent_of(path)
            self._file_node(name, f, parent)

    def add_device(self, dev: Device) -> Node:
        return self.add(f"dev/{dev.name}", Node(dev.name, stat.S_IFREG | 0o664, device=dev))

    def remove(self, node: Node) -> None:
        for child in list(node.entries().values()):
            self.remove(child)
        if node.parent is not None:
            del node.parent.entries()[node.name]
        del self.inodes[node.inode]

    def lookup_path(self, path: str) -> Node | None:
        node: Node | None = self.root
        for part in filter(None, path.split("/")):
            assert node is not None
            if node.populate:
                node.populate(node)
            node = node.entries().get(part)
            if node is None:
                return None
        return node

    def add_symlink(self, name: str, target: str, parent: Node) -> Node:
        return self._register(Node(name, stat.S_IFLNK | 0o777, target=target, size=len(target)), parent)

    # -- sys/kernel/slab/<cache>/ ------------------------------------------------

    def populate_slab_dir(self, slab_dir: Node) -> None:
        """sys/kernel/slab as the version has it (6.18: allocator/linux618/sysfs.py);
        2.6.18 has none: one directory per live cache, SLUB-style attributes inside."""
        if self.k.version.sysfs is not None:
            self._populate_sysfs_slab_dir(slab_dir)
            return
        caches = {c.name: c for c in self.k.caches()}
        for name, node in list(slab_dir.entries().items()):
            if caches.get(name) is not node.cache:
                self.remove(node)
        for name, cachep in caches.items():
            if name not in slab_dir.entries():
                cdir = self._register(_dir(name), slab_dir)
                cdir.cache = cachep
                for attr, f in slab_attrs(self.k, cachep).items():
                    self._file_node(attr, f, cdir)


    def _populate_sysfs_slab_dir(self, slab_dir: Node) -> None:
        """6.18 (mm/slub.c sysfs_slab_add, sysfs_slab_alias): a directory per cache
        under its name or its `:`-unique id, a symlink per alias of a merged one."""
        sysfs = self.k.version.sysfs
        assert sysfs is not None, "the version has a sys/kernel/slab"
        sl = self.k.slab
        layout = sysfs.sysfs_layout(sl)
        for name, node in list(slab_dir.entries().items()):
            if (layout.links.get(name) != node.target if node.target is not None
                    else layout.dirs.get(name) is not node.cache):
                self.remove(node)
        for name, cachep in layout.dirs.items():
            if name not in slab_dir.entries():
                cdir = self._register(_dir(name), slab_dir)
                cdir.cache = cachep
                for attr, (mode, read, write) in sysfs.slab_attrs(sl, cachep).items():
                    self._file_node(attr, File(mode, read, _errno_writer(write) if write else None), cdir)
        for name, target in layout.links.items():
            if name not in slab_dir.entries():
                self.add_symlink(name, target, slab_dir)


def _errno_writer(write: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """A kernel-side store that raises OSError(errno) (or ValueError: EINVAL), as a file's writer."""
    def store(data: bytes) -> None:
        try:
            write(data)
        except OSError as e:
            raise DeviceError(e.errno or errno.EINVAL, str(e)) from None
    return store


def slab_attrs(k: Kernel, cache: CachePart) -> dict[str, File]:
    """sys/kernel/slab/<cache>/: SLUB's attribute files over a SLAB cache (2.6.18)."""
    assert isinstance(cache, KmemCache), "a SLAB cache"
    c = cache
    def flag(bit: int) -> File:
        return File(0o444, lambda: f"{1 if c.flags & bit else 0}\n")

    def counts(i: int) -> File:
        return File(0o444, lambda: f"{c.slab_counts()[i]}\n")

    def shrink(data: bytes) -> None:
        if not data.startswith(b"1"):
            raise DeviceError(errno.EINVAL, "write 1 to shrink")
        k.kmem_cache_shrink(c)

    def set_failslab(on: bool) -> None:
        c.failslab = on

    return {
        "object_size": File(0o444, lambda: f"{c.obj_size}\n"),
        "slab_size": File(0o444, lambda: f"{c.buffer_size}\n"),
        "objs_per_slab": File(0o444, lambda: f"{c.num}\n"),
        "order": File(0o444, lambda: f"{c.gfporder}\n"),
        "align": File(0o444, lambda: f"{c.align}\n"),
        "ctor": File(0o444, lambda: f"{getattr(c.ctor, '__name__', '')}\n" if c.ctor else "\n"),
        "objects": File(0o444, lambda: f"{k.live_objects(c)}\n"),
        "total_objects": counts(2),
        "slabs": counts(0),
        "partial": File(0o444, lambda: f"{k.partial_slabs(c)}\n"),
        "cpu_objects": File(0o444, lambda: f"{k.cpu_objects(c)}\n"),
        "hwcache_align": flag(SLAB_HWCACHE_ALIGN),
        "cache_dma": flag(SLAB_CACHE_DMA),
        "reclaim_account": flag(SLAB_RECLAIM_ACCOUNT),
        "destroy_by_rcu": flag(SLAB_DESTROY_BY_RCU),
        "red_zone": flag(SLAB_RED_ZONE),
        "poison": flag(SLAB_POISON),
        "store_user": flag(SLAB_STORE_USER),
        "shrink": File(0o200, lambda: "", shrink),
        "failslab": File(0o644, lambda: f"{int(c.failslab)}\n", switch_writer(set_failslab)),
    }


def kernel_files_2618(k: Kernel) -> dict[str, File]:
    """2.6.18's /proc renderers (allocator/procfs.py); slabinfo is SLAB's,
    writable (`name limit batchcount shared`)."""
    slabinfo_write = k.slabinfo_write

    def write_slabinfo(data: bytes) -> None:
        assert slabinfo_write is not None, "SLAB's /proc/slabinfo is writable"
        err = slabinfo_write(data)
        if err:
            raise DeviceError(err, "slabinfo: expected `name limit batchcount shared`")

    files = {
        "proc/slabinfo": File(0o600, lambda: procfs.slabinfo(k), write_slabinfo),
        "proc/buddyinfo": File(0o444, lambda: procfs.buddyinfo(k)),
        "proc/zoneinfo": File(0o444, lambda: procfs.zoneinfo(k)),
        "proc/meminfo": File(0o444, lambda: procfs.meminfo(k)),
        "proc/vmstat": File(0o444, lambda: procfs.vmstat(k)),
        "proc/vmallocinfo": File(0o444, lambda: procfs.vmallocinfo(k)),
        "proc/kmsg": File(0o400, lambda: procfs.kmsg(k), mappable=True),
        "proc/sys/vm/min_free_kbytes": File(0o644, lambda: f"{k.min_free_kbytes}\n",
                                            int_writer(k.set_min_free_kbytes, 128, 65536 * 16)),
    }
    for node_id, _ in k.online_nodes():
        files[f"sys/devices/system/node/node{node_id}/numastat"] = File(
            0o444, functools.partial(procfs.numastat, k, node_id))
    return files


def _sysctl_int(set_value: Callable[[int], None], lo: int, hi: int) -> Callable[[bytes], None]:
    """A 6.x proc_dointvec_minmax write: one int, outside [lo, hi] is EINVAL
    (a setter's own ValueError too)."""
    def write(data: bytes) -> None:
        value = proc_dointvec(data)
        if not lo <= value <= hi:
            raise DeviceError(errno.EINVAL, f"{value} is outside {lo}..{hi}")
        try:
            set_value(value)
        except ValueError as e:
            raise DeviceError(errno.EINVAL, str(e)) from None
    return write


def kernel_files_618(k: Kernel) -> dict[str, File]:
    """6.18's /proc renderers (allocator/linux618/procfs.py, vmalloc.py) and
    SLUB's /proc/slabinfo (linux618/sysfs.py: 0400, no write: EIO), with the
    modes of tests/data/linux-6.18/proc-modes; the vm sysctls 6.18 has for the
    page allocator (kernel/sysctl.c, mm/page_alloc.c bounds)."""
    from allocator import narrow
    from allocator.linux618 import page_alloc as PA618
    from allocator.linux618 import procfs as P618
    from allocator.linux618 import vmalloc as VM618
    sysfs = k.version.sysfs
    assert sysfs is not None, "6.18 has its slabinfo in linux618/sysfs.py"
    pa, va = narrow.page_alloc_618(k), narrow.vmalloc_618(k)
    sl = k.slab

    def write_slabinfo(data: bytes) -> None:
        try:
            sysfs.slabinfo_write(data)
        except OSError as e:
            raise DeviceError(e.errno or errno.EIO, str(e)) from None

    def lowmem_reserve_ratio(data: bytes) -> None:
        try:
            ratios = [int(x) for x in decode(data).split()]
        except ValueError:
            raise DeviceError(errno.EINVAL, "lowmem_reserve_ratio: numbers") from None
        if len(ratios) != len(pa.lowmem_reserve_ratio) or min(ratios) < 0:
            raise DeviceError(errno.EINVAL, f"lowmem_reserve_ratio: {len(pa.lowmem_reserve_ratio)} numbers >= 0")
        PA618.set_lowmem_reserve_ratio(pa, ratios)

    int_max = (1 << 31) - 1
    return {
        "proc/slabinfo": File(sysfs.SLABINFO_MODE, lambda: sysfs.slabinfo_show(sl), write_slabinfo),
        "proc/buddyinfo": File(0o444, lambda: P618.buddyinfo(pa)),
        "proc/pagetypeinfo": File(0o400, lambda: P618.pagetypeinfo(pa)),
        "proc/zoneinfo": File(0o444, lambda: P618.zoneinfo(pa)),
        "proc/meminfo": File(0o444, lambda: P618.meminfo(pa, VM618.vmalloc_nr_pages(va))),
        "proc/vmstat": File(0o444, lambda: P618.vmstat(pa)),
        "proc/vmallocinfo": File(0o400, lambda: VM618.vmalloc_info_show(va)),
        "proc/kmsg": File(0o400, lambda: procfs.kmsg(k), mappable=True),
        "proc/sys/vm/min_free_kbytes": File(0o644, lambda: f"{pa.min_free_kbytes}\n",
                                            _sysctl_int(k.set_min_free_kbytes, 0, int_max)),
        "proc/sys/vm/watermark_scale_factor": File(
            0o644, lambda: f"{pa.watermark_scale_factor}\n",
            _sysctl_int(lambda v: PA618.set_watermark_scale_factor(pa, v), 1, 3000)),
        "proc/sys/vm/watermark_boost_factor": File(
            0o644, lambda: f"{pa.watermark_boost_factor}\n",
            _sysctl_int(lambda v: setattr(pa, "watermark_boost_factor", v), 0, int_max)),
        "proc/sys/vm/percpu_pagelist_high_fraction": File(
            0o644, lambda: f"{pa.percpu_pagelist_high_fraction}\n",
            _sysctl_int(lambda v: PA618.set_percpu_pagelist_high_fraction(pa, v), 0, int_max)),
        "proc/sys/vm/lowmem_reserve_ratio": File(
            0o644, lambda: "\t".join(map(str, pa.lowmem_reserve_ratio)) + "\n", lowmem_reserve_ratio),
    }


# release -> the kernel's own /proc files
KERNEL_FILES: dict[str, Callable[[Kernel], dict[str, File]]] = {"2.6.18": kernel_files_2618,
                                                                 "6.18": kernel_files_618}


def declare_files(tree: Tree) -> None:
    """The kernel's own /proc and /sys files: slabinfo and the other renderers
    of the mounted version (KERNEL_FILES), the vm sysctls, the NUMA nodes,
    sys/kernel/slab/."""
    k, settings = tree.k, tree.settings

    def write_drop_caches(data: bytes) -> None:
        text = decode(data).strip()
        if text not in ("1", "2", "3"):
            raise DeviceError(errno.EINVAL, "drop_caches takes 1, 2 or 3")
        k.drop_caches(int(text))

    def set_alloc_wait(value: int) -> None:
        settings.alloc_wait_ms = value

    # kernel/sysctl.c (2.6.18): panic_on_oom is 0644, proc_dointvec, any int
    # (mm/oom_kill.c panics on any non-zero value); the kernel keeps the int
    panic_on_oom = [int(k.panic_on_oom)]

    def write_panic_on_oom(data: bytes) -> None:
        panic_on_oom[0] = proc_dointvec(data)
        k.panic_on_oom = panic_on_oom[0] != 0

    def read_panic_on_oom() -> str:
        if (panic_on_oom[0] != 0) != k.panic_on_oom:
            panic_on_oom[0] = int(k.panic_on_oom)
        return f"{panic_on_oom[0]}\n"

    def set_retry_forever(on: bool) -> None:
        k.retry_forever = on

    tree.declare(KERNEL_FILES[k.version.release](k))
    tree.declare({
        "proc/sys/vm/drop_caches": File(0o644, lambda: "0\n", write_drop_caches),
        "proc/sys/vm/alloc_wait_ms": File(0o644, lambda: f"{settings.alloc_wait_ms}\n",
                                          int_writer(set_alloc_wait, 0, 3_600_000)),
        "proc/sys/vm/panic_on_oom": File(0o644, read_panic_on_oom, write_panic_on_oom),
        # the simulator's own (docs/deviations.md): 1 is 2.6.18 exactly, a sleeping
        # allocation that __alloc_pages retries waits for ever (no alloc_wait_ms)
        "proc/sys/vm/scullcfs_retry_forever": File(0o644, lambda: f"{int(k.retry_forever)}\n",
                                                   switch_writer(set_retry_forever)),
    })
    for node_id, node_cpus in k.online_nodes():
        cpulist = ",".join(map(str, node_cpus)) + "\n"
        tree.declare({f"sys/devices/system/node/node{node_id}/cpulist": File(0o444, cpulist.__str__)})
    tree.add("sys/kernel/slab", _dir("slab")).populate = tree.populate_slab_dir


def feature_modules() -> tuple[Feature, ...]:
    """What a mount's tree is built from, in order: the kernel's files, the
    drivers', debugfs (page map, extfrag, tracing), fault injection and checks."""
    from . import debugfs, drivers, faultfs  # here: they import this module's declarations
    return (declare_files, drivers.declare_files, debugfs.declare_files, faultfs.declare_files)
