"""kmem trace events, as ftrace prints them, and the tracing files of a mount."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from allocator import gfp as G
from allocator.trace import ENTRY_BYTES, KMEM_EVENTS, Tracer
from scullcfs.devices import ScullcDriver

REPO = Path(__file__).resolve().parent.parent

# trace_print_context: "%16s-%-7d [%03d] ..... %5lu.%06lu: " then "event: fields"
LINE = re.compile(r"^ {0,15}(?P<comm>\S.{0,15})-(?P<pid>\d+) +\[(?P<cpu>\d{3})\] \.{5} +"
                  r"(?P<secs>\d+)\.(?P<usecs>\d{6}): (?P<event>\w+): (?P<body>.*)$")
HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {entries}/{written}   #P:{cpus}
#
#                                _-----=> irqs-off
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""


def _events(tracer: Tracer) -> list[tuple[str, str]]:
    return [(m["event"], m["body"]) for m in map(LINE.match, tracer.trace().splitlines()[12:])]


@pytest.fixture
def traced(kernel):
    k = kernel(mem=64 << 20)
    k.set_current(4242, "writer")
    tracer = Tracer(k)
    tracer.set_all(True)
    return k, tracer


def test_tracing_off_leaves_the_allocators_hook_unset(kernel):
    k = kernel(mem=16 << 20)
    tracer = Tracer(k)
    assert k.trace_hook is None
    tracer.set_enabled("kmalloc", True)
    assert k.trace_hook is not None
    tracer.set_tracing_on(False)
    assert k.trace_hook is None
    tracer.set_tracing_on(True)
    tracer.set_enabled("kmalloc", False)
    assert k.trace_hook is None
    k.kfree(k.kmalloc(64, G.GFP_KERNEL))
    assert tracer.trace().count("\n") == 12  # the header only


def test_kmem_cache_alloc_line_has_the_kernel_format(traced):
    k, tracer = traced
    cache = k.kmem_cache_create("demo", 1000, 0, 0)
    tracer.reset()
    objp = k.kmem_cache_alloc(cache, G.GFP_KERNEL)
    lines = [line for line in tracer.trace().splitlines() if "kmem_cache_alloc:" in line]
    assert len(lines) == 1
    m = LINE.match(lines[0])
    assert (m["comm"], int(m["pid"]), int(m["cpu"])) == ("writer", 4242, 4242 % k.cpus)
    assert lines[0].startswith("          writer-4242    [000] ..... ")
    site, rest = m["body"].split(" ", 1)
    assert re.fullmatch(r"call_site=[a-z_]+\+0x[0-9a-f]+/0x[0-9a-f]+", site)
    assert rest == (f"ptr={0xC0000000 + objp:08x} bytes_req=1000 bytes_alloc=1000"
                    f" gfp_flags=GFP_KERNEL")


def test_kmalloc_emits_only_the_kmalloc_event(traced):
    k, tracer = traced
    k.kfree(k.kmalloc(100, G.GFP_KERNEL))  # warm the size-128 cache up: no page events
    tracer.reset()
    objp = k.kmalloc(100, G.GFP_ATOMIC)
    events = _events(tracer)
    assert [e for e, _ in events] == ["kmalloc"]
    assert events[0][1].endswith(f"ptr={0xC0000000 + objp:08x} bytes_req=100 bytes_alloc=128"
                                 f" gfp_flags=GFP_ATOMIC")


def test_kfree_emits_only_the_kfree_event(traced):
    k, tracer = traced
    objp = k.kmalloc(100, G.GFP_KERNEL)
    tracer.reset()
    k.kfree(objp)
    events = _events(tracer)
    assert [e for e, _ in events] == ["kfree"]
    assert events[0][1].endswith(f"ptr={0xC0000000 + objp:08x}")


def test_kmem_cache_free_names_the_cache(traced):
    k, tracer = traced
    cache = k.kmem_cache_create("demo", 1000, 0, 0)
    objp = k.kmem_cache_alloc(cache, G.GFP_KERNEL)
    tracer.reset()
    k.kmem_cache_free(cache, objp)
    assert [b.split(" ", 1)[1] for e, b in _events(tracer)] == [f"ptr={0xC0000000 + objp:08x} name=demo"]


def test_page_events_print_page_pfn_order_and_flags(traced):
    k, tracer = traced
    tracer.reset()
    addr = k.get_free_pages(G.GFP_KERNEL, 2)
    k.free_pages(addr, 2)
    pfn = addr >> 12
    (e1, b1), (e2, b2) = _events(tracer)
    page = 0xC0000000 + (16 << 20) + pfn * 32  # mem_map at 16 MiB, 32-byte struct page
    assert (e1, b1) == ("mm_page_alloc", f"page={page:08x} pfn={pfn:#x} order=2 migratetype=0"
                                         f" gfp_flags=GFP_KERNEL")
    assert (e2, b2) == ("mm_page_free", f"page={page:08x} pfn={pfn:#x} order=2")


def test_slab_growth_traces_pages_and_the_off_slab_descriptor(traced):
    k, tracer = traced
    big = k.kmem_cache_create("big", 2048, 0, 0)   # two per page, no room left: off-slab management
    k.kfree(k.kmalloc(64, G.GFP_KERNEL))           # the descriptors' cache (size-64) has a slab
    tracer.reset()
    k.kmem_cache_alloc(big, G.GFP_KERNEL)
    assert [e for e, _ in _events(tracer)] == ["mm_page_alloc", "kmem_cache_alloc_node",
                                               "kmem_cache_alloc"]
    assert "call_site=cache_grow+0x" in _events(tracer)[1][1]


def test_call_site_names_the_driver_function_and_module(traced):
    k, tracer = traced
    driver = ScullcDriver(k)
    tracer.reset()
    driver.devices[0].write(0, b"x" * 4000)
    driver.devices[0].trim()
    sites = {e: re.match(r"call_site=(\S+) (\[\w+\] )?", b) for e, b in _events(tracer)}
    assert sites["kmalloc"][0].startswith("call_site=scullc_write+0x")
    assert sites["kmalloc"][0].endswith(" [scullc] ")
    assert sites["kmem_cache_alloc"][0].startswith("call_site=scullc_write+0x")
    assert sites["kmem_cache_free"][0].startswith("call_site=scullc_trim+0x")
    assert sites["kfree"][0].startswith("call_site=scullc_trim+0x")


def test_one_quantum_is_one_kmem_cache_alloc_of_4000_bytes_in_4032(traced):
    k, tracer = traced
    driver = ScullcDriver(k)
    tracer.reset()
    driver.devices[0].write(0, b"x" * 4000)
    allocs = [b for e, b in _events(tracer) if e == "kmem_cache_alloc"]
    assert len(allocs) == 1
    assert allocs[0].endswith("bytes_req=4000 bytes_alloc=4032 gfp_flags=GFP_KERNEL")


def test_trace_has_the_ftrace_header_and_counts_entries(traced):
    k, tracer = traced
    tracer.reset()
    k.kfree(k.kmalloc(64, G.GFP_KERNEL))
    text = tracer.trace()
    n = len(text.splitlines()) - 12
    assert text.startswith(HEADER.format(entries=n, written=n, cpus=k.cpus))
    assert all(LINE.match(line) for line in text.splitlines()[12:])


def test_ring_keeps_the_newest_entries_and_counts_the_overwritten(traced):
    k, tracer = traced
    cache = k.kmem_cache_create("demo", 100, 0, 0)
    objs = [k.kmem_cache_alloc(cache, G.GFP_KERNEL) for _ in range(10)]  # no page events below
    tracer.set_buffer_size_kb(1)
    tracer.reset()
    tracer.set_enabled("mm_page_alloc", False)
    tracer.set_enabled("mm_page_free", False)
    for objp in objs:
        k.kmem_cache_free(cache, objp)
    for _ in range(100):
        k.kmem_cache_free(cache, k.kmem_cache_alloc(cache, G.GFP_KERNEL))
    capacity = 1024 // ENTRY_BYTES
    assert f"# entries-in-buffer/entries-written: {capacity}/210   #P:2\n" in tracer.trace()
    lines = tracer.trace().splitlines()[12:]
    assert len(lines) == capacity and lines[-1].split(": ")[1] == "kmem_cache_free"


def test_consume_takes_the_oldest_whole_lines_and_empties_the_rings(traced):
    k, tracer = traced
    tracer.reset()
    for _ in range(5):
        k.kfree(k.kmalloc(64, G.GFP_KERNEL))
    everything = tracer.trace().splitlines(keepends=True)[12:]
    first = tracer.consume(len(everything[0]) + len(everything[1]) + 1)
    assert first.decode() == everything[0] + everything[1]
    rest = tracer.consume(1 << 20)
    assert rest.decode() == "".join(everything[2:])
    assert tracer.consume(4096) == b""
    assert tracer.trace().count("\n") == 12


def test_every_event_has_an_enable_switch(kernel):
    k = kernel(mem=16 << 20)
    tracer = Tracer(k)
    assert set(KMEM_EVENTS) >= {"kmalloc", "kfree", "kmem_cache_alloc", "kmem_cache_free",
                                "mm_page_alloc", "mm_page_free"}
    assert tracer.all_state() == "0"
    tracer.set_enabled("kfree", True)
    assert tracer.all_state() == "X"
    tracer.set_all(True)
    assert tracer.all_state() == "1"
    with pytest.raises(KeyError):
        tracer.set_enabled("kmalloc_bogus", True)


# -- on a mount ----------------------------------------------------------------

def _tracing(mnt):
    return mnt.path / "sys/kernel/debug/tracing"


def test_writing_one_quantum_traces_one_kmem_cache_alloc_with_the_writers_pid(mnt):
    t = _tracing(mnt)
    (t / "events/kmem/enable").write_text("1\n")
    assert (t / "events/kmem/enable").read_text() == "1\n"
    assert (t / "events/kmem/kmem_cache_alloc/enable").read_text() == "1\n"
    dd = subprocess.Popen(["dd", "if=/dev/zero", f"of={mnt.path}/dev/scullc0", "bs=4000", "count=1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert dd.wait(timeout=30) == 0
    (t / "tracing_on").write_text("0\n")
    trace = (t / "trace").read_text()
    lines = [line for line in trace.splitlines() if ": kmem_cache_alloc: " in line]
    assert len(lines) == 1, trace
    m = LINE.match(lines[0])
    assert m, lines[0]
    assert (m["comm"], int(m["pid"])) == ("dd", dd.pid)
    assert int(m["cpu"]) == dd.pid % 2
    assert re.fullmatch(r"call_site=scullc_write\+0x[0-9a-f]+/0x[0-9a-f]+ \[scullc\] ptr=c[0-9a-f]{7}"
                        r" bytes_req=4000 bytes_alloc=4032 gfp_flags=GFP_KERNEL", m["body"]), m["body"]
    kmallocs = [line for line in trace.splitlines() if ": kmalloc: " in line]
    assert len(kmallocs) == 1 and "bytes_req=2000 bytes_alloc=2048" in kmallocs[0]  # the qset array
    assert trace.startswith("# tracer: nop\n#\n# entries-in-buffer/entries-written: ")


def test_trace_pipe_delivers_events_to_a_reader_while_writes_go_on(mnt):
    t = _tracing(mnt)
    (t / "events/kmem/kmem_cache_alloc/enable").write_text("1\n")
    reader = subprocess.Popen(["cat", str(t / "trace_pipe")], stdout=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    pump = threading.Thread(target=lambda: [lines.put(line) for line in reader.stdout], daemon=True)
    pump.start()
    got = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            with open(mnt.path / "dev/scullc1", "wb") as f:  # a write-only open trims: one alloc each
                f.write(b"y" * 100)
            try:
                while True:
                    got.append(lines.get(timeout=0.2))
            except queue.Empty:
                pass
        assert reader.poll() is None, "trace_pipe must not end while it is empty"
    finally:
        reader.send_signal(signal.SIGINT)  # the daemon notices the signal and ends the read
        reader.wait(timeout=30)
        pump.join(timeout=30)
    assert len(got) >= 3
    for line in got:
        m = LINE.match(line.rstrip("\n"))
        assert m and m["event"] == "kmem_cache_alloc" and int(m["pid"]) == os.getpid()
    # what the pipe consumed is gone from the buffer
    assert (t / "trace").read_text().count("kmem_cache_alloc:") <= 1


def test_tracing_files_refuse_nonsense(mnt):
    t = _tracing(mnt)
    for path, text in (("tracing_on", "maybe"), ("buffer_size_kb", "-3"),
                       ("events/kmem/kmalloc/enable", "2")):
        with pytest.raises(OSError) as e:
            (t / path).write_text(text)
        assert e.value.errno == 22, path
    (t / "buffer_size_kb").write_text("64\n")
    assert (t / "buffer_size_kb").read_text() == "64\n"
    assert (t / "available_events").read_text().splitlines()[0] == "kmem:kmalloc"


def test_unmount_ends_a_trace_pipe_reader_and_the_daemon_exits(mnt):
    reader = subprocess.Popen(["cat", str(_tracing(mnt) / "trace_pipe")], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        # `scullcfs --unmount --force` finds the mount busy (the reader holds trace_pipe
        # open) and asks the daemon to finish; the sleeping read must let it.
        r = subprocess.run([sys.executable, "-m", "scullcfs", "--unmount", "--force", str(mnt.path)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert r.returncode == 0, r.stderr
        assert mnt.proc.wait(timeout=30) == 0
        reader.wait(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
