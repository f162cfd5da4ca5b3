"""Sleeping allocations, with trio.

The allocator never blocks. While a request that may sleep runs, `k.sleep_ok`
is set; an allocation that would sleep (it has __GFP_WAIT, direct reclaim did not
help, and it is not __GFP_NORETRY) fails and leaves `(gfp, order)` in
`k.sleep_request` (and what 2.6.18's __alloc_pages would do next in
`k.sched.alloc_next`: "retry", "oom" after the OOM killer ran, "nofail"). The
request then waits here for a free, and retries: up to
`proc/sys/vm/alloc_wait_ms` per allocation, or for ever with __GFP_NOFAIL or
with `proc/sys/vm/scullcfs_retry_forever` set, as 2.6.18 does
(sched.sleep_deadline). A mempool's sleep (`(gfp, order, pool)`) is always
unbounded, as 2.6.18's mempool_alloc: io_schedule_timeout(5*HZ) until a
mempool_free refills the pool, then a retry with the full mask, for ever.
Only the final failure of a bounded wait logs the "page allocation failure"
warning. A task the OOM killer marked dead gets no more memory (its
allocations fail at once, without sleeping): its write ends there.

Every wait (for memory, or for a device's lock behind a sleeper) ends early
when the FUSE client has a signal pending (a user's Ctrl-C on dd): the write
returns what it stored, or EINTR, as the kernel's fuse returns an interrupted
request. 2.6.18 sleeps TASK_UNINTERRUPTIBLE in mempool_alloc and
__alloc_pages, so that is a deviation (docs/deviations.md), and so is its
detection: pyfuse3 does not pass FUSE_INTERRUPT on, so a waiter looks at the
client's /proc/PID/status every SIGNAL_POLL seconds. The wait also ends when
the mount point is gone (`fusermount3 -uz`), as at a signal to the daemon
(MemoryWaitQueue.shutdown), so that no unmount waits for a sleeper.

While one request sleeps on a device it holds the device's lock, as the driver
holds its semaphore through a GFP_KERNEL sleep; other devices and files go on.
The lock is only ever contended while someone sleeps: a request that does not
sleep runs to its end without a checkpoint, so it takes the lock only when
another holds it (`call_locked`).
"""
from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any, TypeVar

import pyfuse3
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

# how often a waiter looks for a signal to its client and for the mount point
SIGNAL_POLL = 0.1
# why a wait ended
WOKEN, TIMEOUT, SIGNAL, CLOSING = "woken", "timeout", "signal", "closing"

# sched.alloc_next: what 2.6.18's __alloc_pages does where the mount stops waiting
NEXT_TEXT = {"retry": "retry (blk_congestion_wait, rebalance)",
             "oom": "retry after the OOM killer (restart)",
             "nofail": "retry (__GFP_NOFAIL, nofail_alloc)"}


def signal_pending(pid: int) -> bool:
    """The FUSE client `pid` has a signal pending that it does not block
    (/proc/PID/status: SigPnd | ShdPnd, less SigBlk): what makes the kernel's
    fuse request_wait_answer interrupt the request. False if it cannot be read."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
        return bool(pending & ~int(fields["SigBlk"], 16))
    except (OSError, KeyError, ValueError):
        return False


def mountinfo_path(path: str) -> str:
    """A path as /proc/self/mountinfo writes it (seq_path's octal escapes)."""
    return (path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")
            .replace("\n", "\\012"))


def is_attached(mountpoint: str) -> bool:
    """`mountpoint` is still a mount point in this mount namespace."""
    want = mountinfo_path(mountpoint)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split(" ", 5)[4:5] == [want] for line in f)
    except OSError:
        return True


class MemoryWaitQueue:
    """Sleepers for memory; k.free_waiters is installed only while someone waits,
    so a free costs one attribute test when nobody sleeps. `mountpoint` (set by
    the daemon): a wait that finds it detached shuts the queue down."""

    def __init__(self, kernel: Kernel, mountpoint: str | None = None):
        self.k = kernel
        self.event = trio.Event()
        self.sleepers = 0
        self.closing = False
        self.pool_events: set[trio.Event] = set()
        self.mountpoint = mountpoint

    def shutdown(self) -> None:
        """Unmount: wake every sleeper for good. They give up as if their wait ran
        out; an unbounded writer would otherwise keep the FUSE main loop alive."""
        self.closing = True
        self.event.set()
        for event in list(self.pool_events):
            event.set()

    def _wake(self) -> None:
        self.event.set()
        self.event = trio.Event()
        self.k.free_waiters = None  # one-shot: sleepers re-arm before waiting again

    async def _sleep(self, event: trio.Event, deadline: float, pid: int) -> str:
        """Wait for `event` until `deadline` (trio clock); every SIGNAL_POLL, look
        for a signal to `pid` and for the mount point. Returns why it ended."""
        while True:
            now = trio.current_time()
            if now >= deadline:
                return TIMEOUT
            with trio.move_on_at(min(deadline, now + SIGNAL_POLL)):
                await event.wait()
                return CLOSING if self.closing else WOKEN
            if self.closing:
                return CLOSING
            if signal_pending(pid):
                return SIGNAL
            if self.mountpoint is not None and not is_attached(self.mountpoint):
                self.shutdown()  # fusermount3 -uz: nobody can open the tree again
                return CLOSING

    async def wait(self, deadline: float, pid: int = 0) -> str:
        """Sleep until something is freed, the deadline (trio clock) passes, or
        `pid` has a signal pending. Returns WOKEN, TIMEOUT, SIGNAL or CLOSING."""
        if self.closing:
            return CLOSING
        self.sleepers += 1
        self.k.free_waiters = self._wake
        try:
            return await self._sleep(self.event, deadline, pid)
        finally:
            self.sleepers -= 1
            if not self.sleepers:
                self.k.free_waiters = None

    async def wait_pool(self, pool: MempoolPart, deadline: float, pid: int = 0) -> str:
        """mempool_alloc's sleep (2.6.18 io_schedule_timeout(5*HZ)): until a
        mempool_free refills `pool`'s reserve (k.mempool_add_waiter), 5 s, the
        deadline, or a signal to `pid`. Returns as wait()."""
        if self.closing:
            return CLOSING
        event = trio.Event()
        self.pool_events.add(event)
        self.sleepers += 1
        self.k.mempool_add_waiter(pool, event.set)
        try:
            return await self._sleep(event, min(deadline, trio.current_time() + MEMPOOL_SLEEP_TIMEOUT), pid)
        finally:
            self.sleepers -= 1
            self.pool_events.discard(event)
            self.k.mempool_remove_waiter(pool, event.set)


async def lock_interruptible(lock: trio.Lock, pid: int) -> None:
    """down_interruptible(&dev->sem), as the scull drivers take it: wait for
    the lock (held by a writer asleep for memory) until a signal to `pid`,
    which is EINTR (the driver's -ERESTARTSYS, as an interrupted FUSE request
    ends)."""
    while True:
        with trio.move_on_after(SIGNAL_POLL):
            await lock.acquire()
            return
        if signal_pending(pid):
            raise pyfuse3.FUSEError(errno.EINTR)


async def call_locked(k: Kernel, lock: trio.Lock, pid: int, op: Callable[[], T]) -> T:
    """Run a device operation as task `pid` under the device's lock: taken
    only if another request holds it (a writer asleep for memory), since `op`
    itself never yields to trio."""
    if lock.locked():
        await lock_interruptible(lock, pid)
        try:
            k.set_current(pid)  # other requests ran while this one waited
            return op()
        finally:
            lock.release()
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
        await lock_interruptible(lock, pid)
        try:
            k.set_current(pid)
            n = attempt_write(k, dev, off, data, queue)
            if n < len(data) and k.sleep_request is not None:
                n = await write_sleeping(k, queue, settings, dev, off, data, n, pid)
            return n
        finally:
            lock.release()
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


def give_up(k: Kernel, settings: Settings, req: tuple[Any, ...], nxt: str | None) -> None:
    """A bounded wait ran out: say so, with what 2.6.18 would do next, and
    2.6.18's page allocation failure report for (gfp, order)."""
    k.log.printk(KERN_WARNING, f"{k.current.comm}: no memory freed within"
                               f" {settings.alloc_wait_ms} ms (vm.alloc_wait_ms)"
                               + (f"; 2.6.18 would {NEXT_TEXT.get(nxt, nxt)}" if nxt else ""))
    k.warn_alloc_failure(*req[:2])


async def write_sleeping(k: Kernel, queue: MemoryWaitQueue, settings: Settings, dev: Device, off: int,
                         data: Buffer, done: int, pid: int) -> int:
    """Finish a write whose allocation must sleep; `done` bytes are stored.
    Returns the bytes stored in all, or raises DeviceError: ENOMEM if none
    (a bounded wait ran out, or the mount is going away), EINTR if a signal
    came first. A bounded wait that runs out with nothing freed (every free
    wakes the queue) ends without another try: it would only run the OOM
    killer again."""
    view = memoryview(data)
    total = len(view)
    deadline = None
    pool_wait = False
    nxt = k.sched.alloc_next  # what 2.6.18 would do next, from the last try
    while done < total:
        req = k.sleep_request
        if req is None:
            break
        now = trio.current_time()
        if deadline is None or pool_wait != (len(req) > 2):
            # math.inf for a mempool, __GFP_NOFAIL, or with retry_forever (2.6.18 exactly)
            pool_wait = len(req) > 2
            deadline = sleep_deadline(k.sched, req[0], now, settings.alloc_wait_ms / 1000, mempool=pool_wait,
                                      nofail=k.gfp.BITS["__GFP_NOFAIL"])
        elif now >= deadline:
            give_up(k, settings, req, nxt)
            break
        if pool_wait:
            why = await queue.wait_pool(req[2], deadline, pid)  # a mempool sleep: its pool's wait queue
        else:
            why = await queue.wait(deadline, pid)
        if why == SIGNAL:
            if done:
                break  # an interrupted write returns what it stored
            raise DeviceError(errno.EINTR, f"{dev.name}: interrupted while waiting for memory")
        if why == CLOSING:
            break  # unmounting: keep what is stored, or ENOMEM
        k.set_current(pid)  # other requests ran meanwhile
        if why == TIMEOUT and trio.current_time() >= deadline:
            give_up(k, settings, req, nxt)
            break
        try:
            n = attempt_write(k, dev, off + done, view[done:], queue)
        except DeviceError:
            if done:
                break  # e.g. the OOM killer chose this task: keep what is stored
            raise
        nxt = k.sched.alloc_next
        if n:
            done += n
            deadline = None  # the next allocation gets its own wait
    if done == 0:
        raise DeviceError(errno.ENOMEM, f"{dev.name}: out of memory")
    return done
