"""The one way this project mounts, watches and unmounts a FUSE daemon it started.

    d = Daemon(scullcfs_argv(mnt, "--mem", "128M"), mnt, output=workdir / "out")
    d.start()
    d.wait_ready()                      # MountError (with the daemon's output) if not
    ...
    problems = d.unmount()              # [] when it went as it should

Used by the test fixtures (tests/conftest.py) and by the subcommands that mount
(bench, stress, compare). The rules it keeps:
- whether something is mounted comes from /proc/self/mountinfo, never from
  os.path.ismount or a stat of the mount point: a dead or stuck daemon makes those
  hang or lie;
- a daemon is this project's code run by this interpreter (`sys.executable -m
  scullcfs`, with the scullcfs package that is running now first on PYTHONPATH);
- unmount is `fusermount3 -u` (retried while the mount is busy), then `-uz`; then
  the daemon is waited for, and killed by its PID only as a last resort;
- it only ever touches the mounts and processes it started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Union

StrPath = Union[str, os.PathLike[str]]

READY_TIMEOUT = 20.0  # seconds for the ready file to become readable
EXIT_TIMEOUT = 20.0  # seconds for the daemon to exit after fusermount3 -u
OUTPUT_TAIL = 4000


class MountError(Exception):
    """A daemon exited before it was ready, or was not ready in time."""


def unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as \\ooo."""
    out, i = [], 0
    while i < len(field):
        chunk = field[i + 1:i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount this process can see."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) > 4:
                out.append((unescape_mountinfo(fields[4]), right.split()[0] if right else ""))
    return out


def is_mounted(path: StrPath) -> bool:
    """Is something mounted exactly at path? Never touches the mount itself."""
    target = os.path.abspath(path)
    return any(point == target for point, _ in mounts())


def fstype(path: StrPath) -> str | None:
    """The type of the filesystem mounted exactly at path (None: not a mount point)."""
    target = os.path.realpath(path)
    found = None
    for point, kind in mounts():
        if point == target:
            found = kind  # the last one is on top
    return found


def package_root() -> str:
    """The directory holding the scullcfs package this process runs: a daemon started
    from here must run the same code (a checkout, a worktree or site-packages)."""
    return str(Path(__file__).resolve().parent.parent)


def daemon_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a daemon: ours (or env), this package first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    paths = [package_root()] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def scullcfs_argv(mnt: StrPath, *args: str) -> list[str]:
    """The command line of a scullcfs daemon in the foreground on mnt."""
    return [sys.executable, "-m", "scullcfs", str(mnt), "--foreground", *map(str, args)]


def read_with_timeout(path: StrPath, timeout: float) -> tuple[bytes | None, str]:
    """Read a file in a helper thread so a hung daemon cannot hang the caller.
    Returns (data, "") or (None, reason). A thread left blocked is released when the
    mount is torn down."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            with open(path, "rb") as f:
                result["data"] = f.read()
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=run, name=f"read {path}", daemon=True)
    t.start()
    t.join(max(timeout, 0.01))
    if t.is_alive():
        return None, f"reading {path} blocked for {timeout:.1f}s"
    if "error" in result:
        return None, f"{path}: {result['error']}"
    return result["data"], ""  # type: ignore[return-value]


def fusermount(*args: str, timeout: float = EXIT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["fusermount3", *args], check=False, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


class Daemon:
    """A FUSE daemon this process starts in the foreground, on its own mount point.

    argv is its whole command line (scullcfs_argv() for a scullcfs; a wrapper such as
    taskset must exec the daemon, so that proc.pid is the daemon's own PID); ready is
    the file under mnt that answers once the daemon serves (proc/meminfo for
    scullcfs). Its stdout and stderr go to output (a path), or nowhere.
    """

    def __init__(self, argv: list[str], mnt: StrPath, *, ready: str = "proc/meminfo",
                 output: StrPath | None = None, logs: tuple[StrPath, ...] = (),
                 cwd: StrPath | None = None, env: dict[str, str] | None = None,
                 name: str = "scullcfs") -> None:
        self.argv = list(map(str, argv))
        self.mnt = Path(mnt)
        self.ready = ready
        self.output = Path(output) if output is not None else None
        self.logs = tuple(Path(p) for p in logs)  # more files output_text() shows
        self.cwd = cwd
        self.env = daemon_env(env)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._unmounted = False

    def start(self) -> Daemon:
        out: IO[bytes] | int = open(self.output, "ab") if self.output is not None else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                                         start_new_session=True)  # a ^C reaches us, not it
        finally:
            if not isinstance(out, int):
                out.close()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> Daemon:
        """Wait until mnt is mounted and its ready file is readable; MountError (with the
        daemon's output) if the daemon exits first or the time runs out."""
        assert self.proc is not None
        ready = self.mnt / self.ready
        deadline = time.monotonic() + timeout
        why = "not mounted yet"
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise MountError(f"{self.name} exited with code {rc} before {ready} was readable")
            if is_mounted(self.mnt):
                data, why = read_with_timeout(ready, deadline - time.monotonic())
                if data is not None:
                    return self
            if time.monotonic() >= deadline:
                raise MountError(f"{ready} not readable after {timeout:.0f}s ({why})")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def unmount(self, exit_timeout: float = EXIT_TIMEOUT, busy_wait: float = 0.0,
                remove: bool = True) -> list[str]:
        """fusermount3 -u (retried for busy_wait seconds while the mount is busy: a file
        closed an instant ago can still hold it), then -uz; wait exit_timeout for the
        daemon to exit, then SIGKILL it by PID. Removes the empty mount point (remove).
        Returns the problems met; idempotent (a second call returns [])."""
        if self._unmounted:
            return []
        self._unmounted = True
        problems: list[str] = []
        if is_mounted(self.mnt):
            deadline = time.monotonic() + busy_wait
            while True:
                r = fusermount("-u", str(self.mnt))
                if r.returncode == 0 or not is_mounted(self.mnt):
                    break
                if time.monotonic() >= deadline:
                    problems.append(f"fusermount3 -u {self.mnt} failed: {r.stderr.strip()}")
                    rz = fusermount("-uz", str(self.mnt))
                    if rz.returncode != 0:
                        problems.append(f"fusermount3 -uz {self.mnt} failed: {rz.stderr.strip()}")
                    break
                time.sleep(0.1)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=exit_timeout)
            except subprocess.TimeoutExpired:
                problems.append(f"{self.name} PID {self.proc.pid} still running {exit_timeout:.0f}s"
                                " after unmount: killed with SIGKILL")
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=EXIT_TIMEOUT)
        if is_mounted(self.mnt):
            fusermount("-uz", str(self.mnt))
        if remove and not is_mounted(self.mnt):
            try:
                os.rmdir(self.mnt)
            except OSError:
                pass
        return problems

    def output_text(self, limit: int | None = OUTPUT_TAIL) -> str:
        """The daemon's stdout/stderr, then its other log files: the last limit chars."""
        text = ""
        for path in (self.output, *self.logs):
            if path is None:
                continue
            try:
                part = path.read_text(errors="replace")
            except OSError:
                continue
            if part:
                text += ("" if not text or text.endswith("\n") else "\n") + part
        if limit is not None and len(text) > limit:
            text = "...\n" + text[-limit:]
        return text
