"""The tools on a shared machine (issue 10): `scullcfs stress` leaves devices that hold
data alone unless told otherwise, and `scullcfs compare` says what it really stores
and shows progress while it runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

STRESS = "stress"    # scullcfs subcommands
COMPARE = "compare"
QUANTUM = 4000  # scullc_quantum's default (scullc/main.c)


def run_tool(tool: str, *args: str, timeout: float = 120, **env_vars: str) -> subprocess.CompletedProcess:
    """`scullcfs TOOL ARGS` (this interpreter, this checkout)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **env_vars)
    return subprocess.run([sys.executable, "-m", "scullcfs", tool, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env)


def quanta_for(nbytes: int) -> int:
    # scullc_write allocates one quantum per QUANTUM bytes written from offset 0
    return -(-nbytes // QUANTUM)


# --------------------------------------------------------------------------- scullcfs stress


@pytest.fixture
def precious(mount_scullcfs):
    """A mounted scullc with data on two of its four devices."""
    m = mount_scullcfs(mem="64M")
    data = {"scullc1": os.urandom(10_000), "scullc3": b"keep me\n"}
    for name, content in data.items():
        (m.path / "dev" / name).write_bytes(content)
    return m, data


def test_stress_refuses_devices_that_hold_data_and_leaves_them_intact(precious):
    m, data = precious
    r = run_tool(STRESS, str(m.path), "-d", "1", "--seed", "1")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""                        # nothing ran
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert line.startswith("stress: ") and "--force" in line and "--only-empty" in line
    assert f"scullc1 (10000 bytes in {quanta_for(10_000)} quanta)" in line, line
    assert "scullc3 (8 bytes in 1 quantum)" in line, line
    assert "scullc0" not in line and "scullc2" not in line
    for name, content in data.items():          # byte for byte, sizes and quanta too
        assert (m.path / "dev" / name).read_bytes() == content
        assert int((m.path / f"sys/class/scullc/{name}/quanta").read_text()) == quanta_for(len(content))
    for name in ("scullc0", "scullc2"):
        assert (m.path / "dev" / name).stat().st_size == 0


def test_stress_with_force_trims_them_and_says_so(precious):
    m, data = precious
    r = run_tool(STRESS, str(m.path), "-d", "1", "-w", "2", "-r", "2", "--seed", "2", "--force")
    assert r.returncode == 0, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert first == (f"stress: --force: trimming scullc1 (10000 bytes in {quanta_for(10_000)} quanta),"
                     " scullc3 (8 bytes in 1 quantum)"), r.stdout
    assert re.search(r"^stress: \S+, 4 devices \(scullc0-3\)$", r.stdout, re.M), r.stdout
    assert r.stdout.rstrip().endswith("stress: PASS")
    # it did run on them: what was there is gone
    assert (m.path / "dev/scullc3").read_bytes()[:8] != data["scullc3"]


def test_stress_only_empty_leaves_the_devices_that_hold_data_alone(precious):
    m, data = precious
    r = run_tool(STRESS, str(m.path), "-d", "1", "-w", "2", "-r", "2", "--seed", "3", "--only-empty")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == (f"stress: --only-empty: leaving scullc1 (10000 bytes in"
                                        f" {quanta_for(10_000)} quanta), scullc3 (8 bytes in 1 quantum)"
                                        " alone"), r.stdout
    assert re.search(r"^stress: \S+, 2 devices \(scullc0, scullc2\)$", r.stdout, re.M), r.stdout
    assert r.stdout.rstrip().endswith("stress: PASS")
    for name, content in data.items():
        assert (m.path / "dev" / name).read_bytes() == content


def test_stress_only_empty_with_no_empty_device_is_refused(mount_scullcfs):
    m = mount_scullcfs(mem="64M", devs=1)
    (m.path / "dev/scullc0").write_bytes(b"x" * 5)
    r = run_tool(STRESS, str(m.path), "-d", "1", "--only-empty")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == f"stress: --only-empty: no device in {m.path}/dev is empty"
    assert (m.path / "dev/scullc0").read_bytes() == b"x" * 5


@pytest.mark.parametrize("tool, args, message", [
    (STRESS, ("/nonexistent", "--force", "--only-empty"),
     "scullcfs stress: --only-empty: not allowed with argument --force; see --help"),
    (STRESS, ("-w", "0", "-r", "0"),
     "scullcfs stress: need at least one writer or reader, and no negative counts; see --help"),
    (COMPARE, ("--quantum", "x"), "scullcfs compare: --quantum: invalid int value: 'x'; see --help"),
])
def test_tools_bad_arguments_are_one_line_and_exit_2(tool, args, message):
    r = run_tool(tool, *args)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", message + "\n")


# --------------------------------------------------------------------------- scullcfs compare


def load_compare():
    from scullcfs import compare
    return compare


class FilesAsDevices:
    """Plain files standing in for a mount's dev/: what a workload writes, counted."""

    def __init__(self, root: Path, family: str):
        (root / "dev").mkdir(parents=True)
        for i in range(4):
            (root / "dev" / f"{family}{i}").write_bytes(b"")
        self.root = root

    def p(self, rel: str) -> str:
        return str(self.root / rel)


def header_number(text: str, pattern: str) -> int:
    m = re.search(pattern, text)
    assert m, (pattern, text)
    return int(m[1])


@pytest.mark.parametrize("quick", [False, True])
def test_compare_headers_say_what_the_workloads_do(tmp_path, monkeypatch, quick):
    """Each workload run on plain files: the header's numbers are what it did."""
    cmp = load_compare()
    sizes = cmp.workload_sizes(quick)
    heads = {name: cmp.describe(name, sizes) for name, _ in cmp.WORKLOADS}

    m = FilesAsDevices(tmp_path / "stream", "scullc")
    cmp.w_stream(m, "scullc", sizes)
    assert os.path.getsize(m.p("dev/scullc0")) == header_number(heads["stream"], r"(\d+) MiB") << 20

    writes = []
    real_pwrite = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, b, off: writes.append(len(b)) or real_pwrite(fd, b, off))
    m = FilesAsDevices(tmp_path / "small", "scullc")
    cmp.w_small(m, "scullc", sizes)
    assert len(writes) == header_number(heads["small"], r"^(\d+) appends")
    assert min(writes) >= 64 and max(writes) <= 4096
    monkeypatch.undo()

    appends = []
    real_append = cmp.append
    monkeypatch.setattr(cmp, "append", lambda fd, n: appends.append(n) or real_append(fd, n))
    m = FilesAsDevices(tmp_path / "churn", "scullc")
    cmp.w_churn(m, "scullc", sizes)
    assert len(appends) == 4 * header_number(heads["churn"], r"^(\d+) rounds")


def test_compare_quick_headers_match_the_bytes_stored_and_progress_goes_to_stderr(fuse_environment,
                                                                                    tmp_path):
    r = run_tool(COMPARE, "--quick", "--quantum", "4000", timeout=300, TMPDIR=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(tmp_path.iterdir()) == []  # its mount points and the daemons' logs are gone
    # [stream] one streaming write to <family>0 (N MiB in 1 MiB blocks), then one row per family
    block = r.stdout.split("[stream] ", 1)[1].split("\n\n", 1)[0].splitlines()
    mib = header_number(block[0], r"\((\d+) MiB in 1 MiB blocks\)")
    rows = [line.split() for line in block[3:] if re.match(r"scull\w* +\d", line)]
    assert [row[0] for row in rows] == ["scullc", "scull", "scullp", "scullv", "scullm"], block
    assert all(int(row[1]) == mib << 20 for row in rows), (mib, rows)
    assert "64 MiB" not in r.stdout
    # progress: one line per workload and family, in the order they ran, and only on stderr
    progress = [line for line in r.stderr.splitlines() if line.startswith("compare: ")]
    done = [re.match(r"compare: quantum 4000, (\w+), (\w+): ", line) for line in progress]
    assert [(d[1], d[2]) for d in done if d] == [(w, f) for w in ("stream", "small", "churn")
                                                 for f in ("scullc", "scull", "scullp", "scullv", "scullm")]
    assert "compare: " not in r.stdout
    # every figure of every row is a count of something: none is negative (the settle
    # between workloads leaves no free slab for the reaper to give back during the next)
    table = [line.split() for line in r.stdout.splitlines() if re.match(r"scull\w* +\d+ +-?\d", line)]
    assert len(table) == 15, r.stdout
    for row in table:
        nbytes, pages, slab, vmalloc, other = (int(x) for x in row[1:6])
        assert min(nbytes, pages, slab, vmalloc, other) >= 0, row
        assert pages == slab + vmalloc + other, row


@pytest.mark.fuse
def test_compare_kernels_figures_add_up_and_none_is_negative(fuse_environment, tmp_path):
    """`compare --kernels 2.6.18,6.18`: per workload and kernel the pages used are the
    slab pages of the caches that grew plus the rest, and no figure is negative."""
    r = run_tool(COMPARE, "--kernels", "2.6.18,6.18", "--quick", timeout=300, TMPDIR=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(tmp_path.iterdir()) == []
    rows = [line.split() for line in r.stdout.splitlines() if re.match(r"(stream|small|churn) +\d", line)]
    assert [(row[0], row[1]) for row in rows] == [(w, k) for w in ("stream", "small", "churn")
                                                  for k in ("2.6.18", "6.18")], r.stdout
    for row in rows:
        nbytes, pages, slab, other = (int(x) for x in row[2:6])
        assert min(nbytes, pages, slab, other) >= 0, row
        assert pages == slab + other, row
        # the data is in scullc quanta: at least one 4 KiB page's worth per 4000 bytes stored
        assert pages >= -(-nbytes // 4000) * 4000 // 4096, row
    geometry = {row[1]: row[6:9] for row in rows}
    assert geometry == {"2.6.18": ["4032", "1", "1"], "6.18": ["4032", "8", "8"]}, r.stdout


# --------------------------------------------------------------------------- --ldd3-io and async I/O


def fio_job(tmp_path: Path, dev: Path, engine: str, direct: int = 1) -> subprocess.CompletedProcess:
    """One write of 8000 bytes of 'A' at offset 0 through `engine`."""
    job = tmp_path / f"{engine}.fio"
    job.write_text(f"[w]\nfilename={dev}\nioengine={engine}\ndirect={direct}\nrw=write\nbs=8000\nsize=8000\n"
                   "iodepth=1\nfallocate=none\nbuffer_pattern=0x41\n")
    return subprocess.run(["fio", "--verify_state_save=0", str(job)], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, cwd=tmp_path)


@pytest.mark.parametrize("engine, direct", [("libaio", 1), ("libaio", 0), ("io_uring", 1)])
def test_ldd3_io_async_direct_write_across_a_quantum_gets_eio(mount_scullcfs, tmp_path, engine, direct):
    """scullc_write stores at most one quantum per call. A synchronous write sees the
    short count; Linux FUSE turns a short asynchronous direct write into -EIO
    (fs/fuse/file.c: fuse_get_res_by_io returns -EIO for a write whose io->bytes was
    set by a short reply), though the first quantum has been stored. The devices are
    direct_io, so without O_DIRECT it is the same."""
    assert shutil.which("fio"), "fio is not installed (tools/quickstart setup installs it)"
    m = mount_scullcfs(mem="64M", ldd3_io=True, quantum=QUANTUM, devs=2)
    sync_dev, async_dev = m.path / "dev/scullc0", m.path / "dev/scullc1"

    fd = os.open(sync_dev, os.O_WRONLY)
    try:
        assert os.pwrite(fd, b"A" * 8000, 0) == QUANTUM       # psync: the short count
    finally:
        os.close(fd)

    os.truncate(async_dev, 8000)  # fio wants the file at its size already (a hole)
    r = fio_job(tmp_path, async_dev, engine, direct)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(r"io_u error on file \S+/dev/scullc1: Input/output error: write offset=0, buflen=8000", out), out
    with open(async_dev, "rb") as f:  # what the driver stored anyway: quantum 0
        assert f.read(QUANTUM) == b"A" * QUANTUM
    assert int((m.path / "sys/class/scullc/scullc1/quanta").read_text()) == 1

    # the same fio job with the synchronous engine: no error, one short write, and
    # (fio does not reissue the rest) the same one quantum stored
    os.close(os.open(async_dev, os.O_WRONLY))  # trim
    os.truncate(async_dev, 8000)
    r = fio_job(tmp_path, async_dev, "psync")
    assert r.returncode == 0 and "err= 0" in r.stdout, r.stdout + r.stderr
    assert re.search(r"issued rwts: total=0,1,0,0 short=0,1,0,0", r.stdout), r.stdout
    with open(async_dev, "rb") as f:
        assert f.read(QUANTUM) == b"A" * QUANTUM
    assert int((m.path / "sys/class/scullc/scullc1/quanta").read_text()) == 1


def test_without_ldd3_io_the_same_async_write_is_served_whole(mount_scullcfs, tmp_path):
    assert shutil.which("fio"), "fio is not installed (tools/quickstart setup installs it)"
    m = mount_scullcfs(mem="64M", quantum=QUANTUM, devs=1)
    dev = m.path / "dev/scullc0"
    os.truncate(dev, 8000)
    r = fio_job(tmp_path, dev, "libaio")
    assert r.returncode == 0 and "err= 0" in r.stdout, r.stdout + r.stderr
    assert re.search(r"issued rwts: total=0,1,0,0 short=0,0,0,0", r.stdout), r.stdout
    assert dev.read_bytes() == b"A" * 8000
    assert int((m.path / "sys/class/scullc/scullc0/quanta").read_text()) == 2
