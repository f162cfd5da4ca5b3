"""Old import path of the scullc driver (now scullcfs/drivers/scullc.py), kept for
the allocator tests that import it from here (tests/test_trace.py)."""
from .drivers.scullc import ScullcDevice, ScullcDriver
from .errors import DeviceError

__all__ = ["DeviceError", "ScullcDevice", "ScullcDriver"]
