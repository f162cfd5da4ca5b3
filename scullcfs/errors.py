"""The one exception the filesystem side raises for bad input or a failed
device operation; fs.py turns it into FUSEError(errno)."""
from __future__ import annotations

import errno


class DeviceError(Exception):
    """A failed device operation; `errno` is what the filesystem returns."""

    def __init__(self, err: int, message: str = ""):
        super().__init__(message or errno.errorcode.get(err, str(err)))
        self.errno = err
