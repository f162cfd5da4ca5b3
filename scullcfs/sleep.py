"""Sleeping allocations, with trio.

The allocator never blocks. While a request that may sleep runs, `k.sleep_ok`
is set; an allocation that would sleep (it has __GFP_WAIT, direct reclaim did not
help, and it is not __GFP_NORETRY) fails and leaves `(gfp, order)` in
`k.sleep_request` (and what 2.6.18's __alloc_pages would do next in
`k.sched.alloc_next`: "retry", "oom" after the OOM killer ran, "nofail"). The
request then waits here for a free, and retries: up to
`proc/sys/vm/alloc_wait_ms` per allocation, or for ever with __GFP_NOFAIL or
with `proc/sys/vm/scullcfs_retry_forever` set, as 2.6.18 does
(sched.sleep_deadline). Only the final failure logs the "page allocation
failure" warning. A task the OOM killer marked dead gets no more memory
(its allocations fail at once, without sleeping): its write ends there.

While one request sleeps on a device it holds the device's lock, as the driver
holds its semaphore through a GFP_KERNEL sleep; other devices and files go on.
The lock is only ever contended while someone sleeps: a request that does not
sleep runs to its end without a checkpoint, so it takes the lock only when
another holds it (`call_locked`).
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TypeVar

import trio

from allocator.kernel import Kernel
from allocator.mempool import MEMPOOL_SLEEP_TIMEOUT
from allocator.parts import MempoolPart
from allocator.printk import KERN_WARNING
from allocator.sched import sleep_deadline

from .drivers import Device
from .drivers.model import Buffer
from .errors import DeviceError
from .tree import Settings

T = TypeVar("T")

# sched.alloc_next: what 2.6.18's __alloc_pages does where the mount stops waiting
NEXT_TEXT = {"retry": "retry (blk_congestion_wait, rebalance)",
             "oom": "retry after the OOM killer (restart)",
             "nofail": "retry (__GFP_NOFAIL, nofail_alloc)"}


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

    async def wait_pool(self, pool: MempoolPart, deadline: float) -> None:
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
            n = attempt_write(k, dev, off, data, queue)
            if n < len(data) and k.sleep_request is not None:
                n = await write_sleeping(k, queue, settings, dev, off, data, n, pid)
            return n
    if k.current.pid != pid:
        k.set_current(pid)
    n = attempt_write(k, dev, off, data, queue)
    if n < len(data) and k.sleep_request is not None:
        req = k.sleep_request
        async with lock:
            # acquiring is a checkpoint: another write may have reset it
            k.sleep_request = req
            n = await write_sleeping(k, queue, settings, dev, off, data, n, pid)
    return n


def attempt_write(k: Kernel, dev: Device, off: int, data: Buffer, queue: MemoryWaitQueue | None = None) -> int:
    """One pass of a device write with sleeping allowed: returns the bytes
    stored; 0 with k.sleep_request set means "sleep and retry". If the OOM
    killer ran, the sleepers are woken: a victim among them finds itself dead
    (its allocations fail) and its write ends."""
    k.sleep_ok = True
    k.sleep_request = None
    k.sched.alloc_next = None
    try:
        return dev.write(off, data)
    except DeviceError:
        if k.sleep_request is None:
            raise
        return 0
    finally:
        k.sleep_ok = False
        if k.sched.alloc_next == "oom" and queue is not None and queue.sleepers:
            queue._wake()


async def write_sleeping(k: Kernel, queue: MemoryWaitQueue, settings: Settings, dev: Device, off: int,
                         data: Buffer, done: int, pid: int) -> int:
    """Finish a write whose allocation must sleep; `done` bytes are stored.
    Returns the bytes stored in all, or raises DeviceError(ENOMEM) if none."""
    view = memoryview(data)
    total = len(view)
    deadline = None
    while done < total:
        req = k.sleep_request
        if req is None:
            break
        now = trio.current_time()
        if deadline is None:
            # math.inf for __GFP_NOFAIL, or with retry_forever (2.6.18 exactly)
            deadline = sleep_deadline(k.sched, req[0], now, settings.alloc_wait_ms / 1000)
        elif now >= deadline:
            nxt = k.sched.alloc_next
            k.log.printk(KERN_WARNING, f"{k.current.comm}: no memory freed within"
                                       f" {settings.alloc_wait_ms} ms (vm.alloc_wait_ms)"
                                       + (f"; 2.6.18 would {NEXT_TEXT.get(nxt, nxt)}" if nxt else ""))
            k.warn_alloc_failure(*req[:2])  # (gfp, order), and a mempool's sleep adds the pool
            break
        if len(req) > 2:
            await queue.wait_pool(req[2], deadline)  # a mempool sleep: its pool's wait queue
        else:
            await queue.wait(deadline)
        if queue.closing:
            break  # unmounting: keep what is stored, or ENOMEM
        k.set_current(pid)  # other requests ran meanwhile
        try:
            n = attempt_write(k, dev, off + done, view[done:], queue)
        except DeviceError:
            if done:
                break  # e.g. the OOM killer chose this task: keep what is stored
            raise
        if n:
            done += n
            deadline = None  # the next allocation gets its own wait
    if done == 0:
        raise DeviceError(errno.ENOMEM, f"{dev.name}: out of memory")
    return done

