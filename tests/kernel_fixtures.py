"""The allocator unit tests' shared kernel and clock (registered by conftest.py).

    def test_reap(kernel, clock):
        k = kernel(mem=64 << 20, cpus=1)  # Kernel(..., clock=clock), closed at teardown
        clock.advance(5.0)                # the kernel's uptime moves only by hand
        k.cache_reap()

`kernel(**options)` passes its options to Kernel unchanged (mem, nodes, cpus,
slab_debug, background, version, ...); every kernel a test boots shares the
test's `clock` unless it passes its own. Code that cannot take a function-scoped
fixture (hypothesis state machines and @given tests) builds
`Kernel(..., clock=FakeClock())` itself and closes it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from allocator.kernel import Kernel


class FakeClock:
    """A monotonic clock that moves only when the test says so.

    Kernel(clock=c) reads it for the log's timestamps and the kernel's uptime
    (the slab reaper's per-node timeouts)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` (>= 0); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back ({seconds} s)")
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """The test's fake clock, starting at 0."""
    return FakeClock()


@pytest.fixture
def kernel(clock: FakeClock) -> Iterator[Callable[..., Kernel]]:
    """Factory: kernel(mem=..., cpus=..., ...) boots a Kernel on the test's fake
    clock; every kernel it booted is closed at teardown."""
    booted: list[Kernel] = []

    def boot(**options: Any) -> Kernel:
        options.setdefault("clock", clock)
        k = Kernel(**options)
        booted.append(k)
        return k

    yield boot
    for k in booted:
        k.close()
