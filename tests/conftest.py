"""Shared pytest fixtures: mounting a real scullcfs through FUSE.

    def test_meminfo(mnt):                      # default options (--mem 256M)
        assert "MemTotal" in (mnt.path / "proc/meminfo").read_text()

    def test_big_quantum(mount_scullcfs):       # factory: options become CLI flags
        m = mount_scullcfs(quantum=8000, devs=2, ldd3_io=True)   # --quantum 8000 --devs 2 --ldd3-io
        ...
        assert m.unmount() == 0                 # optional: unmount inside the test
        assert "slab error" not in m.log_text()

Each mount runs ``python -m scullcfs MNT --foreground --log KLOG <options>`` (the
interpreter running pytest, so the venv's pyfuse3; started, waited for and unmounted by
scullcfs/mount.py, the project's one mount harness) on a fresh temporary directory, with
the daemon's stdout/stderr captured to a file in tmp_path. Setup waits until
MNT/proc/meminfo is readable (20 s); if the daemon exits first or never gets ready, the
test FAILS with the daemon's log (never skips). Teardown always unmounts
(``fusermount3 -u``, then ``-uz``), waits up to 20 s for the daemon to exit (then
SIGKILLs it by PID and fails), and fails unless the exit code is
``Mount.expected_returncode`` (0 unless the test changes it, e.g. after killing the
daemon on purpose; None disables the check).

Tests using these fixtures get the ``fuse`` marker automatically (``-m "not fuse"``
runs the rest).
"""

from __future__ import annotations

import gc
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from scullcfs.mount import EXIT_TIMEOUT, READY_TIMEOUT, Daemon, MountError, is_mounted, scullcfs_argv

__all__ = ["is_mounted"]  # the tests import it from here

pytest_plugins = ["kernel_fixtures"]  # the allocator unit tests' kernel and clock

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OPTIONS = {"mem": "256M"}
FUSE_FIXTURES = ("mnt", "mount_scullcfs", "fuse_environment", "scripts")  # and what uses them
LOG_TAIL_CHARS = 8000


# --------------------------------------------------------------------------- helpers


def options_to_args(options: dict) -> list[str]:
    """{"mem": "64M", "ldd3_io": True, "debug": False} -> ["--mem", "64M", "--ldd3-io"]"""
    args: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            args += [flag, str(value)]
    return args


def tools_env(**extra: str) -> dict[str, str]:
    """The environment for running a tools/ wrapper: the scullcfs program beside this
    interpreter comes first on PATH, as in an activated venv (a checkout without
    .venv then still finds the scullcfs that `pip install .` made)."""
    env = dict(os.environ, **extra)
    env["PATH"] = os.pathsep.join(p for p in (os.path.dirname(sys.executable), env.get("PATH", "")) if p)
    return env


# --------------------------------------------------------------------------- Mount


class Mount:
    """One scullcfs daemon mounted on a fresh temporary directory (a scullcfs.mount
    Daemon, with pytest's way of failing).

    Attributes: ``path`` (pathlib.Path of the mount point), ``proc`` (the
    subprocess.Popen of the daemon), ``args`` (its command line), ``output_file``
    (its stdout/stderr), ``kernel_log_file`` (the ``--log`` file, or None),
    ``expected_returncode`` (checked at teardown; set None to skip the check).
    """

    def __init__(self, workdir: Path, *extra_args: str, **options) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        n = 0
        while (self.workdir / f"scullcfs-{n}.out").exists():
            n += 1
        self.output_file = self.workdir / f"scullcfs-{n}.out"
        self.output_file.touch()
        opts = {**DEFAULT_OPTIONS, **options}
        if "log" not in opts:
            opts["log"] = self.workdir / f"scullcfs-{n}.log"
        self.kernel_log_file = Path(opts["log"]) if opts["log"] else None
        self.path = Path(os.path.realpath(tempfile.mkdtemp(prefix="scullcfs-mnt-")))
        self.args = scullcfs_argv(self.path, *options_to_args(opts), *map(str, extra_args))
        self.daemon = Daemon(self.args, self.path, output=self.output_file, cwd=self.workdir,
                             logs=(self.kernel_log_file,) if self.kernel_log_file else ())
        self.expected_returncode: int | None = 0
        self._setup_failed = False
        self._problems: list[str] = []

    # -- lifecycle

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.daemon.proc

    def start(self) -> Mount:
        self.daemon.start()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Mount:
        """Wait until MNT/proc/meminfo is readable; pytest.fail otherwise."""
        try:
            self.daemon.wait_ready(timeout)
        except MountError as e:
            self._fail_setup(str(e))
        return self

    def _fail_setup(self, message: str) -> None:
        self._setup_failed = True  # reported here; teardown stays quiet
        # A daemon that never got ready is not worth EXIT_TIMEOUT more seconds.
        self.unmount(exit_timeout=5.0)
        pytest.fail(
            f"{message}\ncommand: {' '.join(self.args)}\n{self.describe_problems()}"
            f"--- daemon log ---\n{_tail(self.log_text())}",
            pytrace=False,
        )

    def unmount(self, exit_timeout: float = EXIT_TIMEOUT) -> int | None:
        """Unmount (fusermount3 -u, then -uz), wait for the daemon to exit (SIGKILL after
        exit_timeout, 20 s) and return its exit code. Idempotent. Problems are recorded
        and reported by the fixture's teardown (see ``check``)."""
        gc.collect()  # close file objects a test may have leaked, or -u reports busy
        self._problems += self.daemon.unmount(exit_timeout=exit_timeout)
        return self.returncode

    @property
    def returncode(self) -> int | None:
        return self.daemon.returncode

    def check(self) -> None:
        """Teardown assertions: unmount, then fail on any problem or a wrong exit code."""
        self.unmount()
        if self.proc is None or self._setup_failed:
            return
        rc = self.proc.returncode
        if self.expected_returncode is not None and rc != self.expected_returncode:
            self._problems.append(
                f"daemon exit code {rc}, expected {self.expected_returncode}"
            )
        if self._problems:
            pytest.fail(
                f"scullcfs at {self.path}: {self.describe_problems()}"
                f"--- daemon log ---\n{_tail(self.log_text())}",
                pytrace=False,
            )

    def describe_problems(self) -> str:
        return "".join(f"{p}\n" for p in self._problems)

    # -- logs

    def output_text(self) -> str:
        """The daemon's stdout and stderr."""
        try:
            return self.output_file.read_text(errors="replace")
        except OSError:
            return ""

    def kernel_log_text(self) -> str:
        """What the daemon wrote to its --log file (the simulated kernel log)."""
        if self.kernel_log_file is None:
            return ""
        try:
            return self.kernel_log_file.read_text(errors="replace")
        except OSError:
            return ""

    def log_text(self) -> str:
        """Everything the daemon wrote: stdout/stderr, then the --log file."""
        return self.daemon.output_text(limit=None)

    def __repr__(self) -> str:
        pid = self.proc.pid if self.proc else None
        return f"<Mount {self.path} pid={pid} rc={self.returncode}>"


def _tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def fuse_environment() -> None:
    """Fails (never skips) every FUSE test when FUSE cannot work on this machine."""
    problems = []
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing")
    if shutil.which("fusermount3") is None:
        problems.append("fusermount3 is not on PATH (apt-get install fuse3)")
    if importlib.util.find_spec("pyfuse3") is None:
        problems.append(f"pyfuse3 is not importable by {sys.executable}")
    if problems:
        pytest.fail(
            "FUSE tests cannot run: "
            + "; ".join(problems)
            + " (run tools/quickstart test)",
            pytrace=False,
        )


@pytest.fixture
def mount_scullcfs(fuse_environment, tmp_path):
    """Factory: ``mount_scullcfs(*extra_args, **options)`` mounts a scullcfs and returns
    a ready Mount. Options become flags (``ldd3_io=True`` -> ``--ldd3-io``,
    ``mem="1G"`` -> ``--mem 1G``); ``mem`` defaults to 256M; ``log=None`` drops the
    default ``--log`` file. All mounts are torn down and checked after the test."""
    mounts: list[Mount] = []

    def factory(*extra_args: str, **options) -> Mount:
        m = Mount(tmp_path, *extra_args, **options)
        mounts.append(m)
        m.start()
        m.wait_ready()
        return m

    yield factory

    failures = []
    for m in reversed(mounts):
        try:
            m.check()
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def mnt(mount_scullcfs) -> Mount:
    """A scullcfs mounted with the default options (--mem 256M)."""
    return mount_scullcfs()


def pytest_collection_modifyitems(config, items):
    import allocator
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FUSE_FIXTURES):
            item.add_marker(pytest.mark.fuse)
        if allocator.COMPILED and item.get_closest_marker("pure_only"):
            item.add_marker(pytest.mark.skip(reason="reads what only the interpreted allocator has;"
                                                    " CI runs it with SCULLCFS_PURE_PYTHON=1"))


# --------------------------------------------------------------------------- load scripts

LOAD = REPO_ROOT / "tools/scullc_load"
UNLOAD = REPO_ROOT / "tools/scullc_unload"


def wait_gone(pid: int, timeout: float = 20.0) -> bool:
    """Wait until the daemon pid has finished (exited, or a zombie)."""
    from scullcfs.cli import daemon_running
    deadline = time.monotonic() + timeout
    while daemon_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def systemd_escape_path(path: Path) -> str:
    """The name `systemd-escape --path` gives path: /tmp/a b/c-d -> tmp-a\\x20b-c\\x2dd."""
    text = str(path).strip("/")
    if not text:
        return "-"
    out = []
    for i, byte in enumerate(os.fsencode(text)):
        c = chr(byte)
        if c == "/":
            out.append("-")
        elif (c.isascii() and (c.isalnum() or c in ":_")) or (c == "." and i > 0):
            out.append(c)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


class Scripts:
    """tools/scullc_load and scullc_unload with their environment pointed at
    tmp_path: SCULLC_MNT=tmp_path/NAME, SCULLC_RUNDIR=tmp_path/run (shared by every
    Scripts of a test), SCULLCFS naming a wrapper that runs this interpreter's
    `-m scullcfs`."""

    def __init__(self, tmp_path: Path, name: str = "scullc"):
        self.mnt = tmp_path / name
        self.rundir = tmp_path / "run"
        state = self.rundir / systemd_escape_path(self.mnt)
        self.pidfile = state.with_name(state.name + ".pid")
        self.log = state.with_name(state.name + ".log")
        wrapper = tmp_path / "bin/scullcfs"
        if not wrapper.exists():
            wrapper.parent.mkdir(exist_ok=True)
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m scullcfs "$@"\n')
            wrapper.chmod(0o755)
        self.env = dict(os.environ, SCULLC_MNT=str(self.mnt), SCULLC_RUNDIR=str(self.rundir),
                        SCULLCFS=str(wrapper), PYTHONPATH=str(REPO_ROOT))

    def run(self, script: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *args], env=self.env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)

    def load(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(LOAD, "--mem", "256M", *args)

    def unload(self) -> subprocess.CompletedProcess:
        return self.run(UNLOAD)

    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def cleanup(self) -> None:
        """Unload; failing that, unmount lazily and SIGKILL the daemon named in
        the pidfile (a process the test started)."""
        pid = None
        try:
            pid = self.pid()
        except (OSError, ValueError):
            pass
        if is_mounted(self.mnt):
            self.unload()
        if is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True)
        if pid is not None and not wait_gone(pid, 5):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)


@pytest.fixture
def scripts(fuse_environment, tmp_path):
    s = Scripts(tmp_path)
    yield s
    s.cleanup()
