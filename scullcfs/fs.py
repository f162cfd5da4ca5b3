"""pyfuse3 Operations: a thin dispatcher from FUSE verbs to the tree and devices.

Errors leave through FUSEError(errno) only. Every file is opened with direct_io,
so each read and write reaches the allocator and every statistic is live; only
`mappable` snapshots (proc/kmsg, for `dmesg -F`) go through the page cache.
"""
from __future__ import annotations

import errno
import logging
import os

import pyfuse3
import trio

from .devices import DeviceError
from .sleep import MemoryWaitQueue, attempt_write, write_sleeping
from .tree import CHMOD_REFUSED, TREE_ERRNO, Node, Tree

log = logging.getLogger("scullcfs")

DEVICE_BLKSIZE = 1 << 20  # `cat` reads max(128 KiB, st_blksize) at a time


class Handle:
    __slots__ = ("node", "pid", "data", "dev", "stream", "pos")

    def __init__(self, node: Node, pid: int, data: bytes = b""):
        self.node = node
        self.pid = pid
        self.data = data
        self.dev = node.device
        self.stream = None  # a blocking reader (trace_pipe), see Node.stream
        # A device opened with O_APPEND: the driver's own f_pos. A char device
        # ignores O_APPEND (its f_pos starts at 0 and moves with each write), but
        # the kernel sends such a write at its cached i_size, which is stale after
        # the trim at open: `echo two >> dev` would land after NULs.
        self.pos = None


class ScullcOperations(pyfuse3.Operations):
    def __init__(self, kernel, tree: Tree):
        super().__init__()
        self.k = kernel
        self.tree = tree
        self.handles: dict[int, Handle] = {}
        self._next_fh = 1
        self.uid = os.getuid()
        self.gid = os.getgid()
        # the driver's per-device semaphore; only contended while a writer sleeps.
        # Keyed by the device object: the scull family's drivers share the tree.
        self.locks = {n.device: trio.Lock() for n in tree.inodes.values() if n.device is not None}
        self.waitq = MemoryWaitQueue(kernel)

    # -- attributes ---------------------------------------------------------

    def _attr(self, node: Node) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = node.inode
        a.st_mode = node.mode
        a.st_nlink = 2 + sum(1 for c in node.children.values() if c.is_dir) if node.is_dir else 1
        a.st_uid = self.uid if node.uid is None else node.uid
        a.st_gid = self.gid if node.gid is None else node.gid
        if node.device is not None:
            a.st_size = node.device.size
            a.st_blksize = DEVICE_BLKSIZE
            a.st_blocks = node.device.quanta() * node.device.quantum // 512 if node.device.size else 0
        else:
            a.st_size = node.size
            a.st_blksize = 4096
        a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = node.mtime_ns
        a.attr_timeout = 0
        a.entry_timeout = 0 if node.parent is not None and node.parent.populate else 60
        a.generation = 0
        return a

    def _node(self, inode: int) -> Node:
        node = self.tree.inodes.get(inode)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node

    async def getattr(self, inode, ctx=None):
        return self._attr(self._node(inode))

    async def lookup(self, parent_inode, name, ctx=None):
        parent = self._node(parent_inode)
        if not parent.is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if parent.populate:
            parent.populate(parent)
        name = os.fsdecode(name)
        if name == ".":
            return self._attr(parent)
        if name == "..":
            return self._attr(parent.parent or parent)
        node = parent.children.get(name)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attr(node)

    async def setattr(self, inode, attr, fields, fh, ctx):
        node = self._node(inode)
        if fields.update_size:
            if node.device is not None:
                async with self.locks[node.device]:
                    self.k.set_current(ctx.pid)
                    try:
                        node.device.truncate(attr.st_size)
                    except DeviceError as e:
                        raise pyfuse3.FUSEError(e.errno) from None
            elif node.write is None:
                raise pyfuse3.FUSEError(errno.EACCES)
            # `echo x > file` truncates a control file first: nothing to do
        if fields.update_mode or fields.update_uid or fields.update_gid:
            if node.kind() in CHMOD_REFUSED:
                raise pyfuse3.FUSEError(errno.EPERM)
            # the kernel (default_permissions) already refused what the caller
            # may not do; the mode bits are enforced by it from now on
            if fields.update_mode:
                node.mode = (node.mode & ~0o7777) | (attr.st_mode & 0o7777)
            if fields.update_uid:
                node.uid = attr.st_uid
            if fields.update_gid:
                node.gid = attr.st_gid
        if fields.update_mtime:
            node.mtime_ns = attr.st_mtime_ns
        return self._attr(node)

    # -- what the kernel's trees refuse (tree.TREE_ERRNO) -------------------

    def _refuse(self, parent_inode: int, which: int):
        node = self._node(parent_inode)
        raise pyfuse3.FUSEError(TREE_ERRNO[node.kind()][which])

    async def create(self, parent_inode, name, mode, flags, ctx):
        self._refuse(parent_inode, 0)

    async def mkdir(self, parent_inode, name, mode, ctx):
        self._refuse(parent_inode, 1)

    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        self._refuse(parent_inode, 1)

    async def symlink(self, parent_inode, name, target, ctx):
        self._refuse(parent_inode, 1)

    async def link(self, inode, new_parent_inode, new_name, ctx):
        self._refuse(new_parent_inode, 1)

    async def unlink(self, parent_inode, name, ctx):
        self._refuse(parent_inode, 2)

    async def rmdir(self, parent_inode, name, ctx):
        self._refuse(parent_inode, 2)

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        old, new = self._node(parent_inode_old), self._node(parent_inode_new)
        fs = {"sysctl": "procfs"}
        if fs.get(old.kind(), old.kind()) != fs.get(new.kind(), new.kind()):
            raise pyfuse3.FUSEError(errno.EXDEV)  # proc, sys and dev are three filesystems
        if new.populate:
            new.populate(new)
        exists = os.fsdecode(name_new) in new.children
        if not exists and TREE_ERRNO[new.kind()][3] == errno.ENOENT:
            raise pyfuse3.FUSEError(errno.ENOENT)  # procfs: the new name's lookup fails
        raise pyfuse3.FUSEError(TREE_ERRNO[old.kind()][4 if exists else 3])

    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = self.k.totalram_pages
        s.f_bfree = s.f_bavail = self.k.nr_free_pages()
        s.f_files = len(self.tree.inodes)
        s.f_ffree = s.f_favail = 0
        s.f_namemax = 255
        return s

    # -- directories --------------------------------------------------------

    async def opendir(self, inode, ctx):
        node = self._node(inode)
        if not node.is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh, start_id, token):
        node = self._node(fh)
        if node.populate:
            node.populate(node)
        entries = sorted(node.children.values(), key=lambda n: n.inode)
        for child in entries:
            if child.inode <= start_id:
                continue
            if not pyfuse3.readdir_reply(token, child.name.encode(), self._attr(child), child.inode):
                break

    async def releasedir(self, fh):
        pass

    # -- files --------------------------------------------------------------

    async def open(self, inode, flags, ctx):
        node = self._node(inode)
        if node.is_dir:
            raise pyfuse3.FUSEError(errno.EISDIR)
        accmode = flags & os.O_ACCMODE
        writing = accmode in (os.O_WRONLY, os.O_RDWR)
        if node.device is not None:
            lock = self.locks[node.device]
            if lock.locked():
                async with lock:
                    self.k.set_current(ctx.pid)
                    node.device.open(flags)
            else:
                self.k.set_current(ctx.pid)
                node.device.open(flags)
            handle = Handle(node, ctx.pid)
            if flags & os.O_APPEND:
                handle.pos = 0
        elif node.stream is not None:
            if writing:
                raise pyfuse3.FUSEError(errno.EACCES)
            handle = Handle(node, ctx.pid)
            handle.stream = node.stream(ctx.pid)
        else:
            if writing and node.write is None:
                raise pyfuse3.FUSEError(errno.EACCES)
            if accmode != os.O_WRONLY and node.read is None:
                raise pyfuse3.FUSEError(errno.EACCES)
            data = b""
            if accmode != os.O_WRONLY:
                self.k.set_current(ctx.pid)
                data = node.read().encode()
                if node.mappable:
                    node.size = len(data)
            handle = Handle(node, ctx.pid, data)
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = handle
        return pyfuse3.FileInfo(fh=fh, direct_io=not node.mappable, keep_cache=False)

    async def read(self, fh, off, size):
        h = self.handles[fh]
        dev = h.dev
        if dev is not None:
            k = self.k
            lock = self.locks[dev]
            if lock.locked():  # a writer sleeps for memory holding the device
                async with lock:
                    k.set_current(h.pid)
                    return dev.read(off, size)
            if k.current.pid != h.pid:
                k.set_current(h.pid)
            return dev.read(off, size)
        if h.stream is not None:
            return await h.stream.read(size)
        return h.data[off:off + size]

    async def write(self, fh, off, buf):
        h = self.handles[fh]
        dev = h.dev
        k = self.k
        if k.current.pid != h.pid:
            k.set_current(h.pid)
        if dev is not None:
            if h.pos is not None:
                off = h.pos  # O_APPEND: the driver's f_pos, not the kernel's i_size
            lock = self.locks[dev]
            try:
                if lock.locked():
                    async with lock:
                        k.set_current(h.pid)
                        n = attempt_write(k, dev, off, buf)
                        if n < len(buf) and k.sleep_request is not None:
                            n = await write_sleeping(k, self.waitq, self.tree.settings, dev, off, buf, n, h.pid)
                else:
                    n = attempt_write(k, dev, off, buf)
                    if n < len(buf) and k.sleep_request is not None:
                        req = k.sleep_request
                        async with lock:
                            # acquiring is a checkpoint: another write may have reset it
                            k.sleep_request = req
                            n = await write_sleeping(k, self.waitq, self.tree.settings, dev, off, buf, n, h.pid)
            except DeviceError as e:
                raise pyfuse3.FUSEError(e.errno) from None
            h.node.mtime_ns = _now_ns()
            if h.pos is not None:
                h.pos = off + n
            return n
        node = h.node
        if off:
            # A control value is one write at offset 0. The rest of a value split over
            # two write(2)s ("1" then "2") or a pwrite into the middle would otherwise
            # be parsed as a whole value of its own and silently store something else.
            log.debug("write to %s at offset %d refused", node.path(), off)
            raise pyfuse3.FUSEError(errno.EINVAL)
        try:
            node.write(bytes(buf))
        except DeviceError as e:
            log.debug("write to %s refused: %s", node.path(), e)
            raise pyfuse3.FUSEError(e.errno) from None
        except ValueError as e:
            log.debug("write to %s refused: %s", node.path(), e)
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        node.mtime_ns = _now_ns()
        return len(buf)

    async def release(self, fh):
        h = self.handles.pop(fh, None)
        if h is not None and h.stream is not None:
            h.stream.close()

    async def flush(self, fh):
        pass

    async def fsync(self, fh, datasync):
        pass


def _now_ns() -> int:
    import time
    return time.time_ns()
