"""pyfuse3 Operations: a thin dispatcher from FUSE verbs to the tree and devices.

Errors leave through FUSEError(errno) only. Every file is opened with direct_io,
so each read and write reaches the allocator and every statistic is live; only
`mappable` snapshots (proc/kmsg, for `dmesg -F`) go through the page cache.
Device I/O runs under the device's lock (sleep.call_locked, sleep.write).
"""
from __future__ import annotations

import errno
import logging
import os
import time
from typing import NoReturn

import pyfuse3
import trio
from pyfuse3 import EntryAttributes, FileInfo, RequestContext, SetattrFields

from allocator.kernel import Kernel
from allocator.sched import exit_task

from . import sleep
from .drivers import Device
from .drivers.model import Buffer
from .errors import DeviceError
from .tree import Node, Stream, Tree

log = logging.getLogger("scullcfs")

DEVICE_BLKSIZE = 1 << 20  # `cat` reads max(128 KiB, st_blksize) at a time
# Which Filesystem.refused entry an operation gets
CREATE, MKNOD, UNLINK, RENAME_NEW, RENAME_EXISTING = range(5)


class Handle:
    __slots__ = ("node", "pid", "data", "dev", "stream", "pos")

    def __init__(self, node: Node, pid: int, data: bytes = b""):
        self.node = node
        self.pid = pid
        self.data = data
        self.dev: Device | None = node.device
        self.stream: Stream | None = None  # a blocking reader (trace_pipe), see Node.stream
        # A device opened with O_APPEND: the driver's own f_pos. A char device
        # ignores O_APPEND (its f_pos starts at 0 and moves with each write), but
        # the kernel sends such a write at its cached i_size, which is stale after
        # the trim at open: `echo two >> dev` would land after NULs.
        self.pos: int | None = None


class ScullcOperations(pyfuse3.Operations):
    def __init__(self, kernel: Kernel, tree: Tree):
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
        self.waitq = sleep.MemoryWaitQueue(kernel)

    # -- attributes ---------------------------------------------------------

    def _attr(self, node: Node) -> EntryAttributes:
        a = EntryAttributes()
        a.st_ino = node.inode
        a.st_mode = node.mode
        a.st_nlink = 2 + sum(1 for c in node.entries().values() if c.is_dir) if node.is_dir else 1
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

    async def getattr(self, inode: int, ctx: RequestContext | None = None) -> EntryAttributes:
        return self._attr(self._node(inode))

    async def lookup(self, parent_inode: int, name: bytes,
                     ctx: RequestContext | None = None) -> EntryAttributes:
        parent = self._node(parent_inode)
        if not parent.is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        if parent.populate:
            parent.populate(parent)
        text = os.fsdecode(name)
        if text == ".":
            return self._attr(parent)
        if text == "..":
            return self._attr(parent.parent or parent)
        node = parent.entries().get(text)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attr(node)

    async def setattr(self, inode: int, attr: EntryAttributes, fields: SetattrFields, fh: int | None,
                      ctx: RequestContext) -> EntryAttributes:
        node = self._node(inode)
        if fields.update_size:
            dev = node.device
            if dev is not None:
                size = attr.st_size
                try:
                    await sleep.call_locked(self.k, self.locks[dev], ctx.pid, lambda: dev.truncate(size))
                except DeviceError as e:
                    raise pyfuse3.FUSEError(e.errno) from None
            elif node.write is None:
                raise pyfuse3.FUSEError(errno.EACCES)
            # `echo x > file` truncates a control file first: nothing to do
        if fields.update_mode or fields.update_uid or fields.update_gid:
            if node.filesystem.chmod_refused:
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

    # -- what the kernel's trees refuse (tree.Filesystem.refused) ------------

    def _refuse(self, parent_inode: int, which: int) -> NoReturn:
        node = self._node(parent_inode)
        raise pyfuse3.FUSEError(node.filesystem.refused[which])

    async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                     ctx: RequestContext) -> tuple[FileInfo, EntryAttributes]:
        self._refuse(parent_inode, CREATE)

    async def mkdir(self, parent_inode: int, name: bytes, mode: int, ctx: RequestContext) -> EntryAttributes:
        self._refuse(parent_inode, MKNOD)

    async def mknod(self, parent_inode: int, name: bytes, mode: int, rdev: int,
                    ctx: RequestContext) -> EntryAttributes:
        self._refuse(parent_inode, MKNOD)

    async def symlink(self, parent_inode: int, name: bytes, target: bytes,
                      ctx: RequestContext) -> EntryAttributes:
        self._refuse(parent_inode, MKNOD)

    async def link(self, inode: int, new_parent_inode: int, new_name: bytes,
                   ctx: RequestContext) -> EntryAttributes:
        self._refuse(new_parent_inode, MKNOD)

    async def unlink(self, parent_inode: int, name: bytes, ctx: RequestContext) -> None:
        self._refuse(parent_inode, UNLINK)

    async def rmdir(self, parent_inode: int, name: bytes, ctx: RequestContext) -> None:
        self._refuse(parent_inode, UNLINK)

    async def rename(self, parent_inode_old: int, name_old: bytes, parent_inode_new: int, name_new: bytes,
                     flags: int, ctx: RequestContext) -> None:
        old, new = self._node(parent_inode_old).filesystem, self._node(parent_inode_new)
        if old.superblock != new.filesystem.superblock:
            raise pyfuse3.FUSEError(errno.EXDEV)  # proc, sys and dev are three filesystems
        if new.populate:
            new.populate(new)
        exists = os.fsdecode(name_new) in new.entries()
        if not exists and new.filesystem.refused[RENAME_NEW] == errno.ENOENT:
            raise pyfuse3.FUSEError(errno.ENOENT)  # procfs: the new name's lookup fails
        raise pyfuse3.FUSEError(old.refused[RENAME_EXISTING if exists else RENAME_NEW])

    async def statfs(self, ctx: RequestContext) -> pyfuse3.StatvfsData:
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = self.k.totalram_pages
        s.f_bfree = s.f_bavail = self.k.nr_free_pages()
        s.f_files = len(self.tree.inodes)
        s.f_ffree = s.f_favail = 0
        s.f_namemax = 255
        return s

    async def readlink(self, inode: int, ctx: RequestContext) -> bytes:
        node = self._node(inode)
        if node.target is None:
            raise pyfuse3.FUSEError(errno.EINVAL)
        return os.fsencode(node.target)

    # -- directories --------------------------------------------------------

    async def opendir(self, inode: int, ctx: RequestContext) -> int:
        node = self._node(inode)
        if not node.is_dir:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return inode

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        node = self._node(fh)
        if node.populate:
            node.populate(node)
        entries = sorted(node.entries().values(), key=lambda n: n.inode)
        for child in entries:
            if child.inode <= start_id:
                continue
            if not pyfuse3.readdir_reply(token, child.name.encode(), self._attr(child), child.inode):
                break

    async def releasedir(self, fh: int) -> None:
        pass

    # -- files --------------------------------------------------------------

    async def open(self, inode: int, flags: int, ctx: RequestContext) -> FileInfo:
        node = self._node(inode)
        if node.is_dir:
            raise pyfuse3.FUSEError(errno.EISDIR)
        self._saw(ctx)
        accmode = flags & os.O_ACCMODE
        writing = accmode in (os.O_WRONLY, os.O_RDWR)
        dev = node.device
        if dev is not None:
            await sleep.call_locked(self.k, self.locks[dev], ctx.pid, lambda: dev.open(flags))
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
            if accmode != os.O_WRONLY and node.read is not None:
                self.k.set_current(ctx.pid)
                data = node.read().encode()
                if node.mappable:
                    node.size = len(data)
            handle = Handle(node, ctx.pid, data)
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = handle
        return FileInfo(fh=fh, direct_io=not node.mappable, keep_cache=False)

    # pyfuse3 replies with any buffer (fuse_reply_data takes the buffer protocol):
    # a quantum is served as a memoryview of simulated memory, without a copy.
    async def read(self, fh: int, off: int, size: int) -> Buffer:  # type: ignore[override]
        h = self.handles[fh]
        dev = h.dev
        if dev is not None:
            return await sleep.call_locked(self.k, self.locks[dev], h.pid, lambda: dev.read(off, size))
        if h.stream is not None:
            try:
                return await h.stream.read(size)
            except DeviceError as e:
                raise pyfuse3.FUSEError(e.errno) from None
        return h.data[off:off + size]

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        h = self.handles[fh]
        dev = h.dev
        if dev is not None:
            if h.pos is not None:
                off = h.pos  # O_APPEND: the driver's f_pos, not the kernel's i_size
            try:
                n = await sleep.write(self.k, self.locks[dev], self.waitq, self.tree.settings, dev, off, buf,
                                      h.pid)
            except DeviceError as e:
                raise pyfuse3.FUSEError(e.errno) from None
            h.node.mtime_ns = _now_ns()
            if h.pos is not None:
                h.pos = off + n
            return n
        k = self.k
        if k.current.pid != h.pid:
            k.set_current(h.pid)
        node = h.node
        if off:
            # A control value is one write at offset 0. The rest of a value split over
            # two write(2)s ("1" then "2") or a pwrite into the middle would otherwise
            # be parsed as a whole value of its own and silently store something else.
            log.debug("write to %s at offset %d refused", node.path(), off)
            raise pyfuse3.FUSEError(errno.EINVAL)
        if node.write is None:
            raise pyfuse3.FUSEError(errno.EACCES)
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

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh, None)
        if h is None:
            return
        if h.stream is not None:
            h.stream.close()
        pid = h.pid
        task = self.k.sched.tasks.get(pid)
        if (task is not None and not os.path.exists(f"/proc/{pid}")
                and all(o.pid != pid for o in self.handles.values())):
            exit_task(self.k.sched, pid)  # its last file closed at its exit (see cli.forget_exited)

    def _saw(self, ctx: RequestContext) -> None:
        """The caller's uid for the OOM killer's badness (root's score is
        divided by 4): the FUSE request's, kept on the task."""
        task = self.k.sched.tasks.get(ctx.pid)
        if task is None:
            task = self.k.set_current(ctx.pid)
        task.uid = getattr(ctx, "uid", None)

    async def flush(self, fh: int) -> None:
        pass

    async def fsync(self, fh: int, datasync: bool) -> None:
        pass


def _now_ns() -> int:
    return time.time_ns()
