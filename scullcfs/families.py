"""Old import path of the other drivers (now scullcfs/drivers/), kept for the
allocator tests that import them from here (tests/test_mempool.py)."""
from .drivers import DRIVERS, ScullDriver, ScullmDriver, ScullpDriver, ScullvDriver

__all__ = ["DRIVERS", "ScullDriver", "ScullmDriver", "ScullpDriver", "ScullvDriver"]
