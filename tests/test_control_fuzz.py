"""Every writable control file of a mounted scullcfs, fuzzed: empty, blank, binary,
overlong, 1 MiB, NUL bytes, writes at non-zero offsets, values split over two
write(2)s, and many threads writing at once. Each bad write fails with EINVAL
(an empty write(2) may also just return 0), nothing it could change changes, and
the daemon keeps answering. The files are found by walking the mounted tree, so
a control file added later is fuzzed too.

And the permissions: another user (a uid with no account, through setresuid) can
read what is world-readable but cannot write any control file, change a device's
GFP mode or write a device; without --allow-other it cannot even stat the mount.

Both kernels. Which errno a bad value gets is the kernel's (`expected`): a number
past its type is ERANGE where 6.18's handler parses with lib/kstrtox.c (sysfs slab
attributes: the live kernel's answers, tests/data/linux-6.18/sysfs-slab-fuzz-errors;
the fault-injection knobs; the tracing files, the same code from 5.15 on), and a
6.18 debugfs bool takes every write (debugfs_write_file_bool returns the count
even when kstrtobool fails). Everything else, on both kernels, is EINVAL. Every
writable file is fuzzed whole (on 6.18 that is 300 slab attribute files: ~0.1 s
each).
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

import pytest

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
KERNELS = ["2.6.18", "6.18"]
DATA_618 = Path(__file__).resolve().parent / "data" / "linux-6.18"
# lib/kstrtox.c _kstrtoull: a number past the type is -ERANGE, whatever follows it;
# these two are that (the 1 MiB one also within the 23 bytes simple_attr_write
# copies, the 66 of kstrtoul_from_user and kernfs's PAGE_SIZE).
TOO_BIG = {"overflow", "huge digits"}
# kernel/trace/trace.c (rb_simple_write, tracing_entries_write) and trace_events.c
# (system_enable_write, event_enable_write): kstrtoul_from_user. The mount shows
# these files on 2.6.18 too, as 5.15 has them (the same code).
TRACING = "sys/kernel/debug/tracing/"
# 6.18's debugfs_create_bool knobs: lib/fault-inject.c (task-filter),
# mm/failslab.c (ignore-gfp-wait, cache-filter), mm/fail_page_alloc.c
# (ignore-gfp-wait, ignore-gfp-highmem). Every other knob of the two directories
# is a simple attribute (debugfs_create_ul/u32/atomic_t/xul, fops_ul,
# fops_stacktrace_depth): fs/libfs.c simple_attr_write, kstrtoull/kstrtoll.
FAULT_DIRS = ("sys/kernel/debug/failslab/", "sys/kernel/debug/fail_page_alloc/")
BOOLS_618 = {"task-filter", "ignore-gfp-wait", "cache-filter", "ignore-gfp-highmem"}
# A write longer than this reaches the daemon in more than one FUSE request
# (FUSE's max_write is at most 1 MiB less its header); the mount refuses the
# later ones (offset != 0), so a file that takes any input answers a short count.
FUSE_REQUEST_MAX = 1 << 17


def live_slab_answers() -> dict[tuple[str, str], str]:
    """The live 6.18 kernel's answers, {(attribute, BAD_VALUES name): errno name}."""
    out = {}
    for line in (DATA_618 / "sysfs-slab-fuzz-errors").read_text().splitlines():
        attr, rest = line.split(" <- ", 1)
        name, answer = rest.rsplit(": ", 1)
        out[attr, name] = answer
    return out


LIVE_SLAB = live_slab_answers()


def kstrtobool(data: bytes) -> bool | None:
    """lib/kstrtox.c kstrtobool_from_user (the first 3 bytes, a C string) and
    kstrtobool; None for -EINVAL."""
    s = data[:3].split(b"\0", 1)[0]
    c, c2 = s[:1], s[1:2]
    if c and c in b"yYtT1":
        return True
    if c and c in b"nNfF0":
        return False
    if c and c in b"oO" and c2 and c2 in b"nNfF":
        return c2 in b"nN"
    return None


def expected(kernel: str, rel: str, name: str, data: bytes) -> str | tuple[int, bool | None]:
    """What the kernel answers a write of BAD_VALUES[name] to `rel` at offset 0:
    an errno name, or (count, the bool it stores or None) for a write it takes."""
    attr = rel.rsplit("/", 1)[1]
    if kernel == "6.18" and rel.startswith("sys/kernel/slab/"):
        assert (attr, name) in LIVE_SLAB, f"no live answer for {attr} <- {name}"
        return LIVE_SLAB[attr, name]
    if kernel == "6.18" and rel.startswith(FAULT_DIRS):
        if attr in BOOLS_618:
            return len(data), kstrtobool(data)
        return "ERANGE" if name in TOO_BIG else "EINVAL"
    if rel.startswith(TRACING):
        return "ERANGE" if name in TOO_BIG else "EINVAL"
    # 6.18's sysctls (proc_dointvec_minmax: proc_get_long refuses a number it
    # cannot hold with EINVAL), and the files of the mount and of its drivers
    return "EINVAL"


def leaves_it(want: str | tuple[int, bool | None]) -> bool:
    """A write with this answer leaves the file as it was."""
    return isinstance(want, str) or want[1] is None


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


def fuzz_one(m, kernel: str, rel: str, problems: list) -> None:
    before = read_state(m, rel)

    def unchanged(what: str) -> None:
        after = read_state(m, rel)
        if after != before:
            problems.append(f"{rel}: {what} changed it: {before!r} -> {after!r}")

    def check(what: str, data: bytes, got: int | str, want: str | tuple[int, bool | None]) -> None:
        if isinstance(want, tuple):
            n, stored = want
            if len(data) > FUSE_REQUEST_MAX and isinstance(got, int) and 0 < got < n:
                pass  # the first FUSE request taken, the rest refused at its offset
            elif got != n:
                problems.append(f"{rel}: {what} gave {got}, expected {n} (taken)")
            if stored is not None:
                now = read_state(m, rel)
                if now != ("Y\n" if stored else "N\n"):
                    problems.append(f"{rel}: {what} left {now!r}, expected {'Y' if stored else 'N'}")
                try_write(m, rel, before.encode())  # back to what it was
        elif got != want:
            problems.append(f"{rel}: {what} gave {got}, expected {want}")

    fd = os.open(m.path / rel, os.O_WRONLY)
    try:
        # empty: a zero-length write(2) never reaches the daemon
        r = pwrite(fd, b"")
        if r not in (0, "EINVAL"):
            problems.append(f"{rel}: empty write gave {r}")
        for name, data in BAD_VALUES.items():
            check(f"{name} write", data, pwrite(fd, data), expected(kernel, rel, name, data))
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
    # own contents back) 2 threads rewriting the current value; only values that
    # leave the file as it was (a 6.18 bool takes `nonsense` as N)
    results: list = []
    short = {name: v for name, v in BAD_VALUES.items() if len(v) < 4096}
    bad = [v for name, v in short.items() if leaves_it(expected(kernel, rel, name, v))][:6]
    want_of = {v: expected(kernel, rel, name, v) for name, v in short.items()}

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
        want = len(v) if v == rewrite else want_of[v]
        if isinstance(want, tuple):
            want = want[0]
        if r != want:
            problems.append(f"{rel}: concurrent write of {v[:20]!r} gave {r}, expected {want}")
            break
    unchanged("concurrent writers")


# the files the issue names, so a broken walk cannot pass by finding nothing
NAMED = ["proc/sys/vm/min_free_kbytes", "sys/class/scullc/scullc0/gfp",
         "sys/kernel/debug/failslab/probability", "sys/kernel/debug/fail_page_alloc/min-order",
         "sys/kernel/debug/scullc/misbehave", CHECK, "sys/module/scullc/parameters/scullc_quantum",
         "sys/class/scullv/scullv0/gfp", "sys/module/scullm/parameters/scullm_min_nr",
         "sys/kernel/debug/tracing/tracing_on"]
NAMED_BY_KERNEL = {
    # 6.18's /proc/slabinfo is 0400 with no write (EIO): not a control file there
    "2.6.18": ["proc/slabinfo", "sys/kernel/slab/scullc/failslab", "sys/kernel/slab/scullc/shrink"],
    "6.18": [f"sys/kernel/slab/kmalloc-64/{a}" for a in
             ("min_partial", "cpu_partial", "shrink", "validate", "remote_node_defrag_ratio")]
            + ["sys/kernel/debug/failslab/task-filter", "sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem",
               "sys/kernel/debug/failslab/require-end", "sys/kernel/debug/failslab/times"],
}


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_bad_control_write_fails_as_the_kernel_fails_it_and_changes_nothing(mount_scullcfs, kernel):
    m = mount_scullcfs(mem="64M", family=ALL_FAMILIES, kernel=kernel)
    with open(m.path / "dev/scullc0", "wb") as f:  # something for misbehave to act on
        f.write(os.urandom(10_000))
    files = control_files(m)
    for rel in NAMED + NAMED_BY_KERNEL[kernel]:
        assert rel in files
    start = snapshot(m, files)
    problems: list[str] = []
    for rel in files:
        if rel in ACCEPTS_ANY_WRITE:
            continue
        fuzz_one(m, kernel, rel, problems)
    assert not problems, "\n".join(problems[:40])
    end = snapshot(m, files)
    changed = [rel for rel in files if end[rel] != start[rel]]
    assert not changed, f"changed by rejected writes: {changed}"
    assert "MemTotal" in (m.path / "proc/meminfo").read_text()
    assert try_write(m, CHECK, b"1\n") == 2
    assert (m.path / "dev/scullc0").stat().st_size == 10_000


def test_the_answers_the_fuzz_expects_on_6_18_are_the_live_kernels():
    """The live capture answers every bad value on every writable attribute, and
    it is what lib/kstrtox.c says: ERANGE for a number past the type where the
    store parses one (kstrtoul/kstrtouint), EINVAL for everything else."""
    for attr in ("min_partial", "cpu_partial", "remote_node_defrag_ratio", "shrink", "validate"):
        for name in BAD_VALUES:
            parses_a_number = attr not in ("shrink", "validate")  # these look at buf[0] == '1'
            assert LIVE_SLAB[attr, name] == ("ERANGE" if parses_a_number and name in TOO_BIG else "EINVAL")
    assert kstrtobool(b"nonsense\n") is False and kstrtobool(b"0x\n") is False
    assert kstrtobool(b"on") is True and kstrtobool(b"of") is False and kstrtobool(b"o\n") is None
    assert kstrtobool(b"\x00Y") is None and kstrtobool(b" Y") is None


def test_tracing_files_parse_as_kstrtoul_from_user(mnt):
    """rb_simple_write takes any number (non-zero is on); the enable files 0 or
    1; a number past unsigned long is ERANGE; leading blanks are not skipped."""
    t = mnt.path / TRACING
    assert try_write(mnt, TRACING + "tracing_on", b"0\n") == 2 and (t / "tracing_on").read_text() == "0\n"
    assert try_write(mnt, TRACING + "tracing_on", b"2\n") == 2 and (t / "tracing_on").read_text() == "1\n"
    assert try_write(mnt, TRACING + "tracing_on", b"18446744073709551616") == "ERANGE"
    assert try_write(mnt, TRACING + "tracing_on", b" 0\n") == "EINVAL"
    assert (t / "tracing_on").read_text() == "1\n"
    assert try_write(mnt, TRACING + "events/kmem/kmalloc/enable", b"2\n") == "EINVAL"
    assert try_write(mnt, TRACING + "events/kmem/kmalloc/enable", b"+1\n") == 3
    assert (t / "events/kmem/kmalloc/enable").read_text() == "1\n"
    assert try_write(mnt, TRACING + "events/enable", b"0") == 1
    assert try_write(mnt, TRACING + "buffer_size_kb", b"0\n") == "EINVAL"
    assert try_write(mnt, TRACING + "buffer_size_kb", b"1" + b"0" * 20) == "ERANGE"


def test_a_6_18_debugfs_bool_takes_every_write(mount_scullcfs):
    """fs/debugfs/file.c debugfs_write_file_bool: kstrtobool_from_user reads the
    first 3 bytes; the write returns its count whether they parse or not."""
    m = mount_scullcfs(mem="64M", kernel="6.18")
    rel = "sys/kernel/debug/failslab/ignore-gfp-wait"
    assert (m.path / rel).read_text() == "Y\n"
    assert try_write(m, rel, b"maybe\n") == 6 and (m.path / rel).read_text() == "Y\n"
    assert try_write(m, rel, b"nope") == 4 and (m.path / rel).read_text() == "N\n"
    assert try_write(m, rel, b"on") == 2 and (m.path / rel).read_text() == "Y\n"
    assert try_write(m, rel, b"\x00n") == 2 and (m.path / rel).read_text() == "Y\n"
    # a simple attribute parses 23 bytes: a value, then NUL and anything
    assert try_write(m, "sys/kernel/debug/failslab/times", b"7\x00junk") == 6
    assert (m.path / "sys/kernel/debug/failslab/times").read_text() == "7\n"
    assert try_write(m, "sys/kernel/debug/failslab/times", b"1" * 30) == "ERANGE"


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_value_split_over_two_writes_keeps_the_first_part(mount_scullcfs, kernel):
    """`1` then `0` through one descriptor: the kernel would parse each write on
    its own and store 0; the second lands at offset 1 and is refused, so the
    probability is 1, not a silently different 0 (or 10)."""
    mnt = mount_scullcfs(mem="64M", kernel=kernel)
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


@pytest.mark.parametrize("kernel", KERNELS)
def test_other_users_read_the_tree_but_cannot_change_anything(mount_scullcfs, kernel):
    assert os.getuid() == 0, "the suite runs as root (CI does), to switch to another uid"
    m = mount_scullcfs(mem="64M", family=ALL_FAMILIES, allow_other=True, kernel=kernel)
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


@pytest.mark.parametrize("kernel", KERNELS)
def test_without_allow_other_other_users_cannot_see_the_mount(mount_scullcfs, kernel):
    m = mount_scullcfs(mem="64M", kernel=kernel)
    out = probe_as_other_user(m)
    assert out["stat_root"] == "EACCES"
    assert out["files"] == {}
