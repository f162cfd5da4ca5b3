"""Every writable control file of a mounted scullcfs, fuzzed: empty, blank, binary,
overlong, 1 MiB, NUL bytes, writes at non-zero offsets, values split over two
write(2)s, and many threads writing at once. Each bad write fails with EINVAL
(an empty write(2) may also just return 0), nothing it could change changes, and
the daemon keeps answering. The files are found by walking the mounted tree, so
a control file added later is fuzzed too.

And the permissions: another user (a uid with no account, through setresuid) can
read what is world-readable but cannot write any control file, change a device's
GFP mode or write a device; without --allow-other it cannot even stat the mount.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

CHECK = "sys/kernel/debug/scullc/check"
ALL_FAMILIES = "scullc,scull,scullp,scullv,scullm"  # every family's files are fuzzed
# Any write empties the trace, as `echo > trace` does in the kernel: nothing to refuse.
ACCEPTS_ANY_WRITE = {"sys/kernel/debug/tracing/trace"}
MIB = 1 << 20
BAD_VALUES = {
    "newline": b"\n",
    "blank": b" \t \n",
    "word": b"nonsense\n",
    "sign only": b"-\n",
    "plus only": b"+\n",
    "hex prefix only": b"0x\n",
    "overflow": b"9" * 40 + b"\n",
    "NUL": b"\x00",
    "binary": bytes(range(256)),
    "latin-1": "\xe9t\xe9\n".encode("latin-1"),
    "huge digits": b"9" * MIB,
    "huge binary": bytes(range(256)) * (MIB // 256),
}
# Reads that sleep until something happens: not read by the other user.
BLOCKING_READS = ["sys/kernel/debug/tracing/trace_pipe"]
# A uid and gid no account uses: "another user" without touching /etc/passwd.
OTHER_UID = OTHER_GID = 61_234


def control_files(m) -> list[str]:
    """Every regular file under MNT with a write bit, devices excepted."""
    found = []
    for root, _dirs, files in os.walk(m.path):
        for name in files:
            path = Path(root, name)
            rel = str(path.relative_to(m.path))
            if not rel.startswith("dev/") and os.stat(path).st_mode & 0o222:
                found.append(rel)
    return sorted(found)


def read_state(m, rel: str):
    """What a write to `rel` could change, as read back from `rel` (None if the file
    cannot be read). proc/slabinfo: only its tunables (its counts move by
    themselves); the trace: nothing (any write empties it)."""
    path = m.path / rel
    if not os.stat(path).st_mode & 0o444 or rel == "sys/kernel/debug/tracing/trace":
        return None
    text = path.read_text(errors="replace")
    if rel == "proc/slabinfo":
        return [(line.split()[0], line.split(":")[1]) for line in text.splitlines()[2:]]
    return text


def snapshot(m, files: list[str]) -> dict:
    return {rel: read_state(m, rel) for rel in files}


def pwrite(fd: int, data: bytes, offset: int = 0) -> int | str:
    """os.pwrite: the count, or the errno's name."""
    try:
        return os.pwrite(fd, data, offset)
    except OSError as e:
        return errno.errorcode[e.errno]


def try_write(m, rel: str, data: bytes, offset: int = 0) -> int | str:
    """pwrite through a fresh O_WRONLY descriptor."""
    fd = os.open(m.path / rel, os.O_WRONLY)
    try:
        return pwrite(fd, data, offset)
    finally:
        os.close(fd)


def fuzz_one(m, rel: str, problems: list) -> None:
    before = read_state(m, rel)

    def unchanged(what: str) -> None:
        after = read_state(m, rel)
        if after != before:
            problems.append(f"{rel}: {what} changed it: {before!r} -> {after!r}")

    fd = os.open(m.path / rel, os.O_WRONLY)
    try:
        # empty: a zero-length write(2) never reaches the daemon
        r = pwrite(fd, b"")
        if r not in (0, "EINVAL"):
            problems.append(f"{rel}: empty write gave {r}")
        for name, data in BAD_VALUES.items():
            r = pwrite(fd, data)
            if r != "EINVAL":
                problems.append(f"{rel}: {name} write gave {r}, expected EINVAL")
        unchanged("bad values")
        # non-zero offsets: the value it would be at offset 0, written further in
        value = before.encode() if isinstance(before, str) and before.strip() else b"1\n"
        for off in (1, 4096, 1 << 40):
            r = pwrite(fd, value, off)
            if r != "EINVAL":
                problems.append(f"{rel}: pwrite of {value!r} at offset {off} gave {r}, expected EINVAL")
        unchanged("writes at non-zero offsets")
    finally:
        os.close(fd)
    # partial: a whole value (the current one), then more of it in a second write(2);
    # the continuation must not be parsed as a value of its own
    rewrite = None
    if isinstance(before, str) and before.strip() and rel != "proc/slabinfo":
        fd = os.open(m.path / rel, os.O_WRONLY)
        try:
            first = before.strip().encode()
            try:
                n = os.write(fd, first)
            except OSError:
                n = 0  # some files show what they do not parse (events/enable: X)
            if n:
                rewrite = first
                try:
                    os.write(fd, b"0\n")  # at offset n: the fd moved on
                    problems.append(f"{rel}: the second write(2) of a split value was accepted")
                except OSError as e:
                    if e.errno != errno.EINVAL:
                        problems.append(f"{rel}: split value's second write gave {errno.errorcode[e.errno]}")
        finally:
            os.close(fd)
        unchanged("a value split over two writes")
    # concurrent writers: bad values from 4 threads, and (where the file takes its
    # own contents back) 2 threads rewriting the current value
    results: list = []
    bad = [v for v in BAD_VALUES.values() if len(v) < 4096][:6]

    def hammer(values: list[bytes]) -> None:
        fd = os.open(m.path / rel, os.O_WRONLY)
        try:
            for v in values:
                results.append((v, pwrite(fd, v)))
        finally:
            os.close(fd)

    threads = [threading.Thread(target=hammer, args=(bad,)) for _ in range(4)]
    if rewrite is not None:
        threads += [threading.Thread(target=hammer, args=([rewrite] * 6,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for v, r in results:
        want = len(v) if v == rewrite else "EINVAL"
        if r != want:
            problems.append(f"{rel}: concurrent write of {v[:20]!r} gave {r}, expected {want}")
            break
    unchanged("concurrent writers")


def test_every_bad_control_write_fails_with_einval_and_changes_nothing(mount_scullcfs):
    m = mount_scullcfs(mem="64M", family=ALL_FAMILIES)
    with open(m.path / "dev/scullc0", "wb") as f:  # something for misbehave to act on
        f.write(os.urandom(10_000))
    files = control_files(m)
    # the ones the issue names, so a broken walk cannot pass by finding nothing
    for rel in ("proc/slabinfo", "proc/sys/vm/min_free_kbytes", "sys/class/scullc/scullc0/gfp",
                "sys/kernel/debug/failslab/probability", "sys/kernel/debug/fail_page_alloc/min-order",
                "sys/kernel/debug/scullc/misbehave", CHECK, "sys/kernel/slab/scullc/failslab",
                "sys/module/scullc/parameters/scullc_quantum", "sys/class/scullv/scullv0/gfp",
                "sys/module/scullm/parameters/scullm_min_nr"):
        assert rel in files
    start = snapshot(m, files)
    problems: list[str] = []
    for rel in files:
        if rel in ACCEPTS_ANY_WRITE:
            continue
        fuzz_one(m, rel, problems)
    assert not problems, "\n".join(problems[:40])
    end = snapshot(m, files)
    changed = [rel for rel in files if end[rel] != start[rel]]
    assert not changed, f"changed by rejected writes: {changed}"
    assert "MemTotal" in (m.path / "proc/meminfo").read_text()
    assert try_write(m, CHECK, b"1\n") == 2
    assert (m.path / "dev/scullc0").stat().st_size == 10_000


def test_a_value_split_over_two_writes_keeps_the_first_part(mnt):
    """`1` then `0` through one descriptor: the kernel would parse each write on
    its own and store 0; the second lands at offset 1 and is refused, so the
    probability is 1, not a silently different 0 (or 10)."""
    fd = os.open(mnt.path / "sys/kernel/debug/failslab/probability", os.O_WRONLY)
    try:
        assert os.write(fd, b"1") == 1
        try:
            os.write(fd, b"0\n")
            raise AssertionError("the continuation was accepted")
        except OSError as e:
            assert e.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert (mnt.path / "sys/kernel/debug/failslab/probability").read_text() == "1\n"
    (mnt.path / "sys/kernel/debug/failslab/probability").write_text("0\n")


# --------------------------------------------------------------------------- other users

PROBE = r"""
import errno, json, os, stat, sys
mnt = sys.argv[1]
BLOCKING = set(sys.argv[2:])
out = {"uid": os.getuid(), "groups": os.getgroups(), "stat_root": None, "files": {}, "dirs": 0}
try:
    os.stat(mnt)
    out["stat_root"] = "ok"
    os.listdir(mnt)
except OSError as e:
    out["stat_root"] = errno.errorcode[e.errno]
    print(json.dumps(out)); sys.exit(0)
for root, dirs, files in os.walk(mnt):
    out["dirs"] += 1
    for name in files:
        p = os.path.join(root, name)
        rel = os.path.relpath(p, mnt)
        res = {}
        try:
            if rel in BLOCKING:
                raise OSError(errno.EAGAIN, "not read: a read sleeps until an event")
            with open(p, "rb") as f:
                f.read(1 << 16)
            res["read"] = "ok"
        except OSError as e:
            res["read"] = errno.errorcode[e.errno]
        try:
            fd = os.open(p, os.O_WRONLY)
            try:
                os.write(fd, b"1\n")
                res["write"] = "ok"
            except OSError as e:
                res["write"] = "write:" + errno.errorcode[e.errno]
            os.close(fd)
        except OSError as e:
            res["write"] = errno.errorcode[e.errno]
        if rel.startswith("dev/"):
            try:
                os.truncate(p, 0)
                res["truncate"] = "ok"
            except OSError as e:
                res["truncate"] = errno.errorcode[e.errno]
        out["files"][rel] = res
print(json.dumps(out))
"""


def probe_as_other_user(m) -> dict:
    """Run PROBE as OTHER_UID/OTHER_GID with no supplementary groups. The system
    Python: the venv may sit where that user cannot reach."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([python, "-I", "-c", PROBE, str(m.path), *BLOCKING_READS],
                       capture_output=True, text=True, timeout=120, user=OTHER_UID, group=OTHER_GID, extra_groups=[],
                       cwd="/", stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["uid"] == OTHER_UID and out["groups"] == []
    return out


def test_other_users_read_the_tree_but_cannot_change_anything(mount_scullcfs):
    assert os.getuid() == 0, "the suite runs as root (CI does), to switch to another uid"
    m = mount_scullcfs(mem="64M", family=ALL_FAMILIES, allow_other=True)
    (m.path / "dev/scullc1").write_bytes(b"kept" * 1000)
    files = control_files(m)
    before = snapshot(m, files)
    gfp_before = (m.path / "sys/class/scullc/scullc1/gfp").read_text()
    out = probe_as_other_user(m)
    assert out["stat_root"] == "ok" and out["dirs"] > 20
    problems = []
    for rel, res in out["files"].items():
        mode = os.stat(m.path / rel).st_mode
        want_read = "ok" if mode & stat.S_IROTH else "EACCES"
        if rel in BLOCKING_READS:
            want_read = "EAGAIN"
        if res["read"] != want_read:
            problems.append(f"{rel} ({stat.filemode(mode)}): read {res['read']}, expected {want_read}")
        if res["write"] != "EACCES":
            problems.append(f"{rel} ({stat.filemode(mode)}): write {res['write']}, expected EACCES")
        if "truncate" in res and res["truncate"] != "EACCES":
            problems.append(f"{rel}: truncate {res['truncate']}, expected EACCES")
    assert not problems, "\n".join(problems)
    assert set(files) <= set(out["files"])  # every control file was tried
    assert out["files"]["proc/meminfo"]["read"] == "ok"
    assert out["files"]["sys/class/scullc/scullc1/gfp"]["write"] == "EACCES"
    assert (m.path / "sys/class/scullc/scullc1/gfp").read_text() == gfp_before
    assert snapshot(m, files) == before
    assert (m.path / "dev/scullc1").read_bytes() == b"kept" * 1000


def test_without_allow_other_other_users_cannot_see_the_mount(mount_scullcfs):
    m = mount_scullcfs(mem="64M")
    out = probe_as_other_user(m)
    assert out["stat_root"] == "EACCES"
    assert out["files"] == {}
