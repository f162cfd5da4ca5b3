"""Named int counters: attributes on the allocators' hot paths, a read-only
mapping for everyone else (`stats["pgalloc"]`, `dict(stats)`, `.items()`).

Compiled (mypyc), an attribute of a subclass is a native int, where a dict
entry was a lookup by name and a boxed add on every page or object; the
readers see the same mapping as before."""
from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar


class Counters:
    NAMES: ClassVar[tuple[str, ...]] = ()
    __slots__ = ()

    def __getitem__(self, name: str) -> int:
        if name not in self.NAMES:
            raise KeyError(name)
        value: int = getattr(self, name)
        return value

    def __setitem__(self, name: str, value: int) -> None:
        if name not in self.NAMES:
            raise KeyError(name)
        setattr(self, name, value)

    def __contains__(self, name: object) -> bool:
        return name in self.NAMES

    def __iter__(self) -> Iterator[str]:
        return iter(self.NAMES)

    def __len__(self) -> int:
        return len(self.NAMES)

    def keys(self) -> tuple[str, ...]:
        return self.NAMES

    def values(self) -> list[int]:
        return [self[name] for name in self.NAMES]

    def items(self) -> list[tuple[str, int]]:
        return [(name, self[name]) for name in self.NAMES]

    def get(self, name: str, default: int | None = None) -> int | None:
        return self[name] if name in self.NAMES else default

    def __repr__(self) -> str:
        return repr(dict(self.items()))
