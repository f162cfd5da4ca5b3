"""Simulated physical memory: one lazily committed anonymous host mapping.

A 4 GiB machine costs host memory only for the pages that were written. Nothing
here zeroes on allocation: the previous owner's bytes stay until someone asks for
__GFP_ZERO, as with real RAM.

Each first touch of a host page is a host page fault (~2.6 us of system time per
4 KiB here). madvise(MADV_HUGEPAGE) on the mapping was measured (issue 14, THP in
"madvise" mode, defrag "madvise"): storing 835 MiB through scullc with --mem 4G
took 12.6-13.9 s against 8.8-9.6 s without, and the daemon's RSS grew by 4 MiB
(the 2 MiB faults zero, and at times compact, more than they save), so the
mapping stays with small pages.
"""
from __future__ import annotations

import mmap
import sys
from typing import Final

# Linux's MAP_NORESERVE (the mmap module does not export it): no swap or
# overcommit reservation, so a simulated machine larger than the host mounts and
# costs only the pages it touches.
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)

PAGE_SHIFT: Final = 12
PAGE_SIZE: Final = 1 << PAGE_SHIFT
# x86-32 3G/1G split: lowmem is mapped at PAGE_OFFSET + phys.
PAGE_OFFSET: Final = 0xC0000000

_ZEROS = bytes(1 << 22)  # one order-10 block of zeros, sliced for every zeroing


class PhysMem:
    """Bytes of the simulated RAM, addressed by physical address."""

    def __init__(self, size: int):
        self.size = size
        self._map = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        self.view = memoryview(self._map)
        # the same bytes as 64-bit words in the host's order: SLUB reads and writes
        # an aligned free pointer (little-endian) there without struct's codec
        self.words: memoryview | None = (self.view.cast("Q") if sys.byteorder == "little" and size % 8 == 0
                                         else None)
        self._zeros = memoryview(_ZEROS)

    def read(self, addr: int, n: int) -> memoryview:
        """A zero-copy view of n bytes at addr (valid until close)."""
        return self.view[addr:addr + n]

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        self.view[addr:addr + len(data)] = data

    def zero(self, addr: int, n: int) -> None:
        view, zeros = self.view, self._zeros
        while n > 0:
            k = n if n < len(zeros) else len(zeros)
            view[addr:addr + k] = zeros[:k]
            addr += k
            n -= k

    def zeros(self, n: int) -> memoryview:
        """A read-only view of n zero bytes (n <= 4 MiB): what a hole reads as."""
        return self._zeros[:n]

    def fill(self, addr: int, n: int, byte: int) -> None:
        self.view[addr:addr + n] = bytes([byte]) * n

    def close(self) -> None:
        if self.words is not None:
            self.words.release()
        self.view.release()
        self._zeros.release()
        self._map.close()
