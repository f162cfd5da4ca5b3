"""Sleeping allocations, with trio.

The allocator never blocks. While a request that may sleep runs, `k.sleep_ok`
is set; an allocation that would sleep (it has __GFP_WAIT, direct reclaim did not
help, and it is not __GFP_NORETRY) fails and leaves `(gfp, order)` in
`k.sleep_request`. The request then waits here for a free, and retries: up to
`proc/sys/vm/alloc_wait_ms` per allocation, or for ever with __GFP_NOFAIL. Only
the final failure logs the "page allocation failure" warning.

While one request sleeps on a device it holds the device's lock, as the driver
holds its semaphore through a GFP_KERNEL sleep; other devices and files go on.
The lock is only ever contended while someone sleeps: a request that does not
sleep runs to its end without a checkpoint, so it takes the lock only when
another holds it (`call_locked`).
"""
from __future__ import annotations

import errno
import math
from collections.abc import Callable
from typing import TypeVar

import trio

from allocator.gfp import F
from allocator.kernel import Kernel
from allocator.mempool import MEMPOOL_SLEEP_TIMEOUT, Mempool
from allocator.printk import KERN_WARNING

from .drivers import Device
from .drivers.model import Buffer
from .errors import DeviceError
from .tree import Settings

T = TypeVar("T")


class MemoryWaitQueue:
    """Sleepers for memory; k.free_waiters is installed only while someone waits,
    so a free costs one attribute test when nobody sleeps."""

    def __init__(self, kernel: Kernel):
        self.k = kernel
        self.event = trio.Event()
        self.sleepers = 0
        self.closing = False
        self.pool_events: set[trio.Event] = set()

    def shutdown(self) -> None:
        """Unmount: wake every sleeper for good. They give up as if their wait ran
        out; a __GFP_NOFAIL writer would otherwise keep the FUSE main loop alive."""
        self.closing = True
        self.event.set()
        for event in list(self.pool_events):
            event.set()

    def _wake(self) -> None:
        self.event.set()
        self.event = trio.Event()
        self.k.free_waiters = None  # one-shot: sleepers re-arm before waiting again

    async def wait(self, deadline: float) -> None:
        """Sleep until something is freed or the deadline (trio clock) passes."""
        if self.closing:
            return
        self.sleepers += 1
        self.k.free_waiters = self._wake
        try:
            with trio.move_on_at(deadline):
                await self.event.wait()
        finally:
            self.sleepers -= 1
            if not self.sleepers:
                self.k.free_waiters = None

    async def wait_pool(self, pool: Mempool, deadline: float) -> None:
        """mempool_alloc's sleep (2.6.18 io_schedule_timeout(5*HZ)): until a
        mempool_free refills `pool`'s reserve (k.mempool_add_waiter), 5 s, or the deadline."""
        if self.closing:
            return
        event = trio.Event()
        self.pool_events.add(event)
        self.sleepers += 1
        self.k.mempool_add_waiter(pool, event.set)
        try:
            with trio.move_on_at(min(deadline, trio.current_time() + MEMPOOL_SLEEP_TIMEOUT)):
                await event.wait()
        finally:
            self.sleepers -= 1
            self.pool_events.discard(event)
            self.k.mempool_remove_waiter(pool, event.set)


async def call_locked(k: Kernel, lock: trio.Lock, pid: int, op: Callable[[], T]) -> T:
    """Run a device operation as task `pid` under the device's lock: taken
    only if another request holds it (a writer asleep for memory), since `op`
    itself never yields to trio."""
    if lock.locked():
        async with lock:
            k.set_current(pid)  # other requests ran while this one waited
            return op()
    if k.current.pid != pid:
        k.set_current(pid)
    return op()


async def write(k: Kernel, lock: trio.Lock, queue: MemoryWaitQueue, settings: Settings, dev: Device,
                off: int, data: Buffer, pid: int) -> int:
    """A device write that may sleep for memory: try with sleeping allowed;
    if an allocation has to sleep, hold the device's lock while waiting for
    frees and retrying (write_sleeping). Returns the bytes stored; raises
    DeviceError (ENOMEM when nothing could be stored)."""
    if lock.locked():
        async with lock:
            k.set_current(pid)
            n = attempt_write(k, dev, off, data)
            if n < len(data) and k.sleep_request is not None:
                n = await write_sleeping(k, queue, settings, dev, off, data, n, pid)
            return n
    if k.current.pid != pid:
        k.set_current(pid)
    n = attempt_write(k, dev, off, data)
    if n < len(data) and k.sleep_request is not None:
        req = k.sleep_request
        async with lock:
            # acquiring is a checkpoint: another write may have reset it
            k.sleep_request = req
            n = await write_sleeping(k, queue, settings, dev, off, data, n, pid)
    return n


def attempt_write(k: Kernel, dev: Device, off: int, data: Buffer) -> int:
    """One pass of a device write with sleeping allowed: returns the bytes
    stored; 0 with k.sleep_request set means "sleep and retry"."""
    k.sleep_ok = True
    k.sleep_request = None
    try:
        return dev.write(off, data)
    except DeviceError:
        if k.sleep_request is None:
            raise
        return 0
    finally:
        k.sleep_ok = False


async def write_sleeping(k: Kernel, queue: MemoryWaitQueue, settings: Settings, dev: Device, off: int,
                         data: Buffer, done: int, pid: int) -> int:
    """Finish a write whose allocation must sleep; `done` bytes are stored.
    Returns the bytes stored in all, or raises DeviceError(ENOMEM) if none."""
    view = memoryview(data)
    total = len(view)
    gfp = dev.gfp
    deadline = None
    while done < total:
        req = k.sleep_request
        if req is None:
            break
        now = trio.current_time()
        if gfp & F.NOFAIL:
            deadline = math.inf
        elif deadline is None:
            deadline = now + settings.alloc_wait_ms / 1000
        elif now >= deadline:
            k.log.printk(KERN_WARNING, f"{k.current.comm}: no memory freed within"
                                       f" {settings.alloc_wait_ms} ms (vm.alloc_wait_ms)")
            k.warn_alloc_failure(*req[:2])  # (gfp, order), and a mempool's sleep adds the pool
            break
        if len(req) > 2:
            await queue.wait_pool(req[2], deadline)  # a mempool sleep: its pool's wait queue
        else:
            await queue.wait(deadline)
        if queue.closing:
            break  # unmounting: keep what is stored, or ENOMEM
        k.set_current(pid)  # other requests ran meanwhile
        n = attempt_write(k, dev, off + done, view[done:])
        if n:
            done += n
            deadline = None  # the next allocation gets its own wait
    if done == 0:
        raise DeviceError(errno.ENOMEM, f"{dev.name}: out of memory")
    return done

