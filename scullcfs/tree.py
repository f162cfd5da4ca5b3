"""The mounted tree, declared as data: path -> reader / writer.

A file node has a `read` renderer (called once per open: one consistent snapshot)
and/or a `write` handler (called once per write(2) with the bytes; it raises
DeviceError or ValueError for bad input). Device nodes carry their ScullcDevice.
Directories may be dynamic (`sys/kernel/slab/` follows the cache chain).
"""
from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from allocator import gfp as G
from allocator import procfs
from allocator.slab import (SLAB_CACHE_DMA, SLAB_DESTROY_BY_RCU, SLAB_HWCACHE_ALIGN, SLAB_POISON,
                            SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE, SLAB_STORE_USER)

from .devices import DeviceError, ScullcDevice


@dataclass(eq=False)
class Node:
    name: str
    mode: int
    inode: int = 0
    parent: Optional["Node"] = None
    children: Optional[dict] = None          # directories: name -> Node
    read: Optional[Callable[[], str]] = None
    write: Optional[Callable[[bytes], None]] = None
    device: Optional[ScullcDevice] = None
    populate: Optional[Callable[["Node"], None]] = None  # dynamic directories
    size: int = 0                            # st_size for virtual files
    cache: object = None                     # sys/kernel/slab/<cache>: the cache shown
    # A blocking stream instead of a snapshot (trace_pipe): stream(pid) at open
    # returns an object with `async read(size) -> bytes` and `close()`.
    stream: Optional[Callable] = None
    # Served through the page cache with st_size = its latest snapshot's length:
    # `dmesg -F proc/kmsg` mmaps st_size bytes MAP_SHARED, which FUSE refuses on a
    # direct_io file (ENODEV), and mmap of 0 bytes is EINVAL.
    mappable: bool = False
    mtime_ns: int = field(default_factory=time.time_ns)
    uid: Optional[int] = None                # after a chown (None: the daemon's)
    gid: Optional[int] = None

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    def kind(self) -> str:
        """Which of the kernel's trees this node stands for, for the errnos of
        operations the tree refuses (see TREE_ERRNO): "sysctl" under proc/sys,
        "procfs" elsewhere under proc, "sysfs" under sys, "dev" for dev and the root."""
        top = self.path().split("/")[:2]
        if top[0] == "proc":
            return "sysctl" if top[1:] == ["sys"] else "procfs"
        return "sysfs" if top[0] == "sys" else "dev"

    def path(self) -> str:
        parts = []
        node = self
        while node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))


# What the kernel's own trees return to their owner (root) for operations they
# do not support, measured on Linux 6.18 (tests/test_safety_mounted.py holds the
# measurement). procfs: a new name fails its lookup (ENOENT) before the VFS asks
# the directory; unlink, rmdir and rename onto an existing name are EPERM.
# sysctl (proc/sys): write access to its directories is refused (EACCES).
# sysfs (kernfs): EPERM, except O_CREAT of a new name (no ->create: EACCES).
# dev: the devices are the driver's (scullc_devs); like /dev seen by a user
# other than root (root:root 0755), nothing is created, removed or renamed: EACCES.
TREE_ERRNO = {
    #            create        mkdir/mknod/symlink/link  unlink/rmdir  rename-new    rename-existing
    "procfs": (errno.ENOENT, errno.ENOENT, errno.EPERM, errno.ENOENT, errno.EPERM),
    "sysctl": (errno.ENOENT, errno.ENOENT, errno.EACCES, errno.ENOENT, errno.EACCES),
    "sysfs": (errno.EACCES, errno.EPERM, errno.EPERM, errno.EPERM, errno.EPERM),
    "dev": (errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES),
}
# chmod and chown: procfs and sysfs let the owner change a node's mode and owner
# (proc_notify_change, kernfs_iop_setattr); sysctl entries refuse (EPERM);
# timestamps can be set everywhere.
CHMOD_REFUSED = {"sysctl"}


def _dir(name: str, mode: int = 0o755) -> Node:
    return Node(name, stat.S_IFDIR | mode, children={})


def _decode(data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise DeviceError(errno.EINVAL, "not ASCII text") from None


def _int_writer(setter: Callable[[int], None], lo: int, hi: int) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        text = _decode(data).strip()
        try:
            value = int(text, 0)
        except ValueError:
            raise DeviceError(errno.EINVAL, f"{text[:40]!r} is not a number") from None
        if not lo <= value <= hi:
            raise DeviceError(errno.EINVAL, f"{value} is outside {lo}..{hi}")
        setter(value)
    return write


# Features that add files declare them in their own module with a function
# `declare_files(tree)` and list it here.
EXTENSIONS: list[Callable[["Tree"], None]] = []


class Tree:
    """Inode table and the declared files of one mount."""

    def __init__(self, kernel, driver, settings):
        self.k = kernel
        self.driver = driver
        self.settings = settings
        self.inodes: dict[int, Node] = {}
        self._next_inode = 1
        self.root = self._register(_dir(""), None)
        k, d = kernel, driver
        self.declare({
            # path: (mode, reader, writer)
            "proc/slabinfo": (0o600, lambda: procfs.slabinfo(k), self._write_slabinfo),
            "proc/scullcmem": (0o444, d.scullcmem, None),
            "proc/buddyinfo": (0o444, lambda: procfs.buddyinfo(k), None),
            "proc/zoneinfo": (0o444, lambda: procfs.zoneinfo(k), None),
            "proc/meminfo": (0o444, lambda: procfs.meminfo(k), None),
            "proc/vmstat": (0o444, lambda: procfs.vmstat(k), None),
            "proc/kmsg": (0o400, lambda: procfs.kmsg(k), None),
            "proc/sys/vm/drop_caches": (0o644, lambda: "0\n", self._write_drop_caches),
            "proc/sys/vm/min_free_kbytes": (0o644, lambda: f"{k.min_free_kbytes}\n",
                                            _int_writer(k.set_min_free_kbytes, 128, 65536 * 16)),
            "proc/sys/vm/alloc_wait_ms": (0o644, lambda: f"{settings.alloc_wait_ms}\n",
                                          _int_writer(self._set_alloc_wait, 0, 3_600_000)),
            "sys/module/scullc/parameters/scullc_quantum": (
                0o644, lambda: f"{d.scullc_quantum}\n", lambda b: d.set_param("scullc_quantum", _decode(b))),
            "sys/module/scullc/parameters/scullc_qset": (
                0o644, lambda: f"{d.scullc_qset}\n", lambda b: d.set_param("scullc_qset", _decode(b))),
            "sys/module/scullc/parameters/scullc_devs": (0o444, lambda: f"{d.scullc_devs}\n", None),
        })
        for dev in d.devices:
            node = self.add(f"dev/{dev.name}", Node(dev.name, stat.S_IFREG | 0o664, device=dev))
            node.size = 0
            self.declare({
                f"sys/class/scullc/{dev.name}/gfp": (
                    0o644, lambda dev=dev: G.gfp_format(dev.gfp) + "\n",
                    lambda b, dev=dev: d.set_gfp(dev, _decode(b))),
                f"sys/class/scullc/{dev.name}/size": (0o444, lambda dev=dev: f"{dev.size}\n", None),
                f"sys/class/scullc/{dev.name}/quanta": (0o444, lambda dev=dev: f"{dev.quanta()}\n", None),
            })
        for node_id, node_cpus in k.online_nodes():
            self.declare({
                f"sys/devices/system/node/node{node_id}/numastat": (
                    0o444, lambda nid=node_id: procfs.numastat(k, nid), None),
                f"sys/devices/system/node/node{node_id}/cpulist": (
                    0o444, lambda cpus=node_cpus: ",".join(map(str, cpus)) + "\n", None),
            })
        self.declare({"sys/kernel/debug/scullc/daemon_pid": (0o444, lambda: f"{os.getpid()}\n", None)})
        self.lookup_path("proc/kmsg").mappable = True
        slab = self.add("sys/kernel/slab", _dir("slab"))
        slab.populate = self._populate_slab_dir
        for declare_files in EXTENSIONS:
            declare_files(self)

    # -- building -----------------------------------------------------------

    def _register(self, node: Node, parent: Optional[Node]) -> Node:
        node.inode = self._next_inode
        self._next_inode += 1
        node.parent = parent
        self.inodes[node.inode] = node
        if parent is not None:
            parent.children[node.name] = node
        return node

    def add(self, path: str, node: Node) -> Node:
        parent = self.root
        *dirs, name = path.split("/")
        for part in dirs:
            child = parent.children.get(part)
            if child is None:
                child = self._register(_dir(part), parent)
            parent = child
        node.name = name
        return self._register(node, parent)

    def declare(self, table: dict) -> None:
        for path, (mode, reader, writer) in table.items():
            size = 0 if path.startswith("proc/") else 4096
            self.add(path, Node("", stat.S_IFREG | mode, read=reader, write=writer, size=size))

    def remove(self, node: Node) -> None:
        if node.children:
            for child in list(node.children.values()):
                self.remove(child)
        del node.parent.children[node.name]
        del self.inodes[node.inode]

    def lookup_path(self, path: str) -> Optional[Node]:
        node = self.root
        for part in filter(None, path.split("/")):
            if node.populate:
                node.populate(node)
            node = (node.children or {}).get(part)
            if node is None:
                return None
        return node

    # -- sys/kernel/slab/<cache>/ ------------------------------------------------

    def _populate_slab_dir(self, slab_dir: Node) -> None:
        """Keep one directory per live cache, SLUB-style attributes inside."""
        caches = {c.name: c for c in self.k.caches()}
        for name, node in list(slab_dir.children.items()):
            if caches.get(name) is not getattr(node, "cache", None):
                self.remove(node)
        for name, cachep in caches.items():
            if name not in slab_dir.children:
                cdir = self._register(_dir(name), slab_dir)
                cdir.cache = cachep
                for attr, (mode, reader, writer) in self._slab_attrs(cachep).items():
                    self._register(Node(attr, stat.S_IFREG | mode, read=reader, write=writer, size=4096),
                                   cdir)

    def _slab_attrs(self, c) -> dict:
        k = self.k

        def flag(bit):
            return lambda: f"{1 if c.flags & bit else 0}\n"

        def counts(i):
            return lambda: f"{c.slab_counts()[i]}\n"

        def shrink(data: bytes) -> None:
            if not data.startswith(b"1"):
                raise DeviceError(errno.EINVAL, "write 1 to shrink")
            k.kmem_cache_shrink(c)

        def failslab(data: bytes) -> None:
            text = data.strip()
            if text not in (b"0", b"1"):
                raise DeviceError(errno.EINVAL, "write 0 or 1")
            c.failslab = text == b"1"

        partial = lambda: f"{k.partial_slabs(c)}\n"  # noqa: E731
        return {
            "object_size": (0o444, lambda: f"{c.obj_size}\n", None),
            "slab_size": (0o444, lambda: f"{c.buffer_size}\n", None),
            "objs_per_slab": (0o444, lambda: f"{c.num}\n", None),
            "order": (0o444, lambda: f"{c.gfporder}\n", None),
            "align": (0o444, lambda: f"{c.align}\n", None),
            "ctor": (0o444, lambda: f"{getattr(c.ctor, '__name__', '')}\n" if c.ctor else "\n", None),
            "objects": (0o444, lambda: f"{k.live_objects(c)}\n", None),
            "total_objects": (0o444, counts(2), None),
            "slabs": (0o444, counts(0), None),
            "partial": (0o444, partial, None),
            "cpu_objects": (0o444, lambda: f"{k.cpu_objects(c)}\n", None),
            "hwcache_align": (0o444, flag(SLAB_HWCACHE_ALIGN), None),
            "cache_dma": (0o444, flag(SLAB_CACHE_DMA), None),
            "reclaim_account": (0o444, flag(SLAB_RECLAIM_ACCOUNT), None),
            "destroy_by_rcu": (0o444, flag(SLAB_DESTROY_BY_RCU), None),
            "red_zone": (0o444, flag(SLAB_RED_ZONE), None),
            "poison": (0o444, flag(SLAB_POISON), None),
            "store_user": (0o444, flag(SLAB_STORE_USER), None),
            "shrink": (0o200, lambda: "", shrink),
            "failslab": (0o644, lambda: f"{int(c.failslab)}\n", failslab),
        }

    # -- writers ------------------------------------------------------------

    def _write_slabinfo(self, data: bytes) -> None:
        err = self.k.slabinfo_write(data)
        if err:
            raise DeviceError(err, "slabinfo: expected `name limit batchcount shared`")

    def _write_drop_caches(self, data: bytes) -> None:
        text = _decode(data).strip()
        if text not in ("1", "2", "3"):
            raise DeviceError(errno.EINVAL, "drop_caches takes 1, 2 or 3")
        self.k.drop_caches(int(text))

    def _set_alloc_wait(self, value: int) -> None:
        self.settings.alloc_wait_ms = value
