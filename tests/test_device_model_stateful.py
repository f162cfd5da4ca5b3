"""A hypothesis state machine drives one mounted device of each family through
real system calls (pwrite, pread, ftruncate and truncate, lseek + write, reopening
with O_WRONLY, O_RDWR and O_TRUNC) and holds it to a bytearray model: after every
step the device's size and its whole contents are the model's.

Each family is mounted with tiny quanta and qsets (scullp and scullv: one page, 2
per item) so that small offsets cross quanta, qset arrays and items; holes read as
zeros, a write-only open trims (scull_open), and so does O_TRUNC.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

# family -> (mount arguments, largest offset, largest write)
FAMILIES = {
    "scullc": (["--quantum", "16", "--qset", "4"], 600, 150),
    "scull": (["--param", "scull_quantum=16", "--param", "scull_qset=4"], 600, 150),
    "scullm": (["--param", "scullm_quantum=16", "--param", "scullm_qset=4"], 600, 150),
    "scullp": (["--param", "scullp_order=0", "--param", "scullp_qset=2"], 5 * 4096, 6000),
    "scullv": (["--param", "scullv_order=0", "--param", "scullv_qset=2"], 5 * 4096, 6000),
}


def device_machine(path: str, max_offset: int, max_write: int) -> type:
    """The state machine for the device file at `path`."""
    offsets = st.integers(0, max_offset)
    payloads = st.binary(min_size=1, max_size=max_write)

    class DeviceMachine(RuleBasedStateMachine):
        fd = None

        @initialize()
        def start_empty(self):
            os.close(os.open(path, os.O_WRONLY))  # trim what the last example left
            self.fd = os.open(path, os.O_RDWR)
            self.model = bytearray()

        def teardown(self):
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None

        def _store(self, off: int, data: bytes) -> None:
            if off > len(self.model):
                self.model.extend(bytes(off - len(self.model)))
            self.model[off:off + len(data)] = data

        def _resize(self, length: int) -> None:
            if length < len(self.model):
                del self.model[length:]
            else:
                self.model.extend(bytes(length - len(self.model)))

        @rule(off=offsets, data=payloads)
        def pwrite(self, off, data):
            assert os.pwrite(self.fd, data, off) == len(data)
            self._store(off, data)

        @rule(off=offsets, size=st.integers(0, max_write + 50))
        def pread(self, off, size):
            assert os.pread(self.fd, size, off) == bytes(self.model[off:off + size])

        @rule(length=st.integers(0, max_offset + 100), through_fd=st.booleans())
        def truncate(self, length, through_fd):
            if through_fd:
                os.ftruncate(self.fd, length)
            else:
                os.truncate(path, length)
            self._resize(length)

        @rule(off=offsets, data=payloads)
        def lseek_and_write(self, off, data):
            assert os.lseek(self.fd, off, os.SEEK_SET) == off
            assert os.write(self.fd, data) == len(data)
            assert os.lseek(self.fd, 0, os.SEEK_CUR) == off + len(data)
            self._store(off, data)

        @rule(data=st.one_of(st.just(b""), payloads))
        def reopen_write_only(self, data):
            """A write-only open trims the device; what is written through it is
            all that is left."""
            fd = os.open(path, os.O_WRONLY)
            self.model = bytearray()
            try:
                if data:
                    assert os.write(fd, data) == len(data)
                    self._store(0, data)
            finally:
                os.close(fd)

        @rule()
        def reopen_read_write(self):
            """O_RDWR does not trim: the contents survive a close and a reopen."""
            os.close(self.fd)
            self.fd = os.open(path, os.O_RDWR)

        @rule()
        def reopen_with_o_trunc(self):
            os.close(self.fd)
            self.fd = os.open(path, os.O_RDWR | os.O_TRUNC)
            self.model = bytearray()

        @invariant()
        def size_and_contents_match_the_model(self):
            if self.fd is None:
                return
            assert os.fstat(self.fd).st_size == len(self.model)
            assert os.pread(self.fd, len(self.model) + 64, 0) == bytes(self.model)

    return DeviceMachine


@pytest.mark.parametrize("family", FAMILIES)
def test_device_behaves_like_a_bytearray(mount_scullcfs, family):
    args, max_offset, max_write = FAMILIES[family]
    m = mount_scullcfs(*args, mem="32M", family=family)
    machine = device_machine(str(m.path / "dev" / f"{family}0"), max_offset, max_write)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=40, stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow]))
    check = os.open(m.path / "sys/kernel/debug/scullc/check", os.O_WRONLY)
    try:
        os.write(check, b"1\n")
    finally:
        os.close(check)
    assert m.unmount() == 0
    assert "slab error" not in m.log_text()
