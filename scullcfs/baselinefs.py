"""The ceiling of our stack: the thinnest pyfuse3 filesystem with one file.

    python -m scullcfs.baselinefs MNT [--max-tasks N]   (foreground; fusermount3 -u MNT)

MNT/data is served with direct_io from a bytearray: reads return a memoryview slice
(no copy in Python), writes copy into the bytearray. A write-only open or O_TRUNC
empties it, as opening a scullc device does. `scullcfs bench` compares scullcfs with this.
"""
from __future__ import annotations

import argparse
import errno
import os
import stat

import pyfuse3
import trio
from pyfuse3 import FileHandleT, FileNameT, FlagT, InodeT

ROOT, DATA = InodeT(pyfuse3.ROOT_INODE), InodeT(pyfuse3.ROOT_INODE + 1)


class BaselineOperations(pyfuse3.Operations):
    def __init__(self) -> None:
        super().__init__()
        self.buf = bytearray()  # capacity; the file is buf[:size]
        self.size = 0

    def _attr(self, inode: InodeT) -> pyfuse3.EntryAttributes:
        a = pyfuse3.EntryAttributes()
        a.st_ino = inode
        a.st_mode = (stat.S_IFDIR | 0o755) if inode == ROOT else (stat.S_IFREG | 0o666)
        a.st_nlink = 2 if inode == ROOT else 1
        a.st_uid, a.st_gid = os.getuid(), os.getgid()
        a.st_size = 0 if inode == ROOT else self.size
        a.st_blksize = 1 << 20
        a.attr_timeout = a.entry_timeout = 0
        return a

    async def getattr(self, inode: InodeT, ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        if inode not in (ROOT, DATA):
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attr(inode)

    async def lookup(self, parent_inode: InodeT, name: FileNameT,
                     ctx: pyfuse3.RequestContext | None = None) -> pyfuse3.EntryAttributes:
        if parent_inode != ROOT or name != b"data":
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attr(DATA)

    async def opendir(self, inode: InodeT, ctx: pyfuse3.RequestContext) -> FileHandleT:
        return FileHandleT(inode)

    async def readdir(self, fh: FileHandleT, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        if start_id < DATA:
            pyfuse3.readdir_reply(token, b"data", self._attr(DATA), DATA)

    async def releasedir(self, fh: FileHandleT) -> None:
        pass

    async def setattr(self, inode: InodeT, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields,
                      fh: FileHandleT | None, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if fields.update_size:
            self._extend(attr.st_size)
            self.size = attr.st_size
        return self._attr(inode)

    async def open(self, inode: InodeT, flags: FlagT, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        if (flags & os.O_ACCMODE) == os.O_WRONLY or flags & os.O_TRUNC:
            self.size = 0
        return pyfuse3.FileInfo(fh=FileHandleT(inode), direct_io=True, keep_cache=False)

    async def read(self, fh: FileHandleT, off: int, size: int) -> bytes:
        end = min(off + size, self.size)
        # a memoryview: pyfuse3 sends any buffer, and the slice is not copied
        return memoryview(self.buf)[off:end] if off < end else b""  # type: ignore[return-value]

    async def write(self, fh: FileHandleT, off: int, buf: bytes) -> int:
        end = off + len(buf)
        self._extend(off)
        self._grow(end)
        self.buf[off:end] = buf
        if end > self.size:
            self.size = end
        return len(buf)

    def _extend(self, end: int) -> None:
        # Bytes between the old end and a later one read as zeros.
        if end > self.size:
            self._grow(end)
            self.buf[self.size:end] = bytes(end - self.size)

    def _grow(self, end: int) -> None:
        # Double the capacity; a new bytearray because a memoryview handed out by
        # read may still pin the old one (a pinned bytearray cannot be resized).
        if end > len(self.buf):
            new = bytearray(max(end, 2 * len(self.buf)))
            new[:self.size] = memoryview(self.buf)[:self.size]
            self.buf = new

    async def flush(self, fh: FileHandleT) -> None:
        pass

    async def release(self, fh: FileHandleT) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="baselinefs", description=__doc__.splitlines()[0])
    p.add_argument("mountpoint")
    p.add_argument("--max-tasks", type=int, default=99, help="pyfuse3.main max_tasks (99)")
    args = p.parse_args(argv)
    options = set(pyfuse3.default_options) | {"fsname=baselinefs"}
    pyfuse3.init(BaselineOperations(), args.mountpoint, options)
    try:
        trio.run(pyfuse3.main, 1, args.max_tasks)
    finally:
        pyfuse3.close(unmount=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
