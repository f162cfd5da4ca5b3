"""`scullcfs MNT [options]`: boot the simulated kernel, load scullc, mount.

Without --foreground the command returns once the mount answers (exit 0), or
prints one line saying why it could not: exit 2 for a bad argument (checked
before the kernel boots where it can), 1 for a failure of the host or the mount.
The daemon runs until the mount is unmounted (`fusermount3 -u MNT` or `scullcfs
--unmount MNT`, which refuses a busy mount unless --force), SIGINT or SIGTERM;
it then unloads the driver, reports leaks in the log, and exits 0.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from allocator import BUILD, Kernel, parse_size
from allocator.printk import KERN_ERR, KERN_WARNING
from allocator.sched import exit_task
from allocator.slab import REAPTIMEOUT_CPUC
from allocator.versions import DEFAULT_VERSION, VERSIONS, kernel_version

from .drivers.scullc import ScullcDriver

if TYPE_CHECKING:
    import trio

    from allocator.parts import CachePart
    from allocator.printk import LogRecord

    from .drivers.model import Driver

log = logging.getLogger("scullcfs")


@dataclass
class Settings:
    alloc_wait_ms: int = 1000


def _int_arg(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}..{hi}")
        return value
    return parse


# What Kernel() accepts: 4 MiB .. 64 GiB (i386 PAE), whole pages.
MEM_MIN = 4 << 20
MEM_MAX = 64 << 30


def _size_arg(text: str) -> int:
    try:
        value = parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use K, M or G)") from None
    if not MEM_MIN <= value <= MEM_MAX:
        raise argparse.ArgumentTypeError(f"{text} is outside 4M..64G (i386 with PAE, and x86_64 here,"
                                         " address at most 64G)")
    if value % 4096:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of 4 KiB pages")
    return value


def _percent_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 90:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..90 (percent of lowmem)")
    return value


def _flags_arg(text: str) -> str:
    """--cache-flags: checked against every version's SLAB_* names here; its
    value comes from the chosen kernel's (cache_flags())."""
    for v in VERSIONS.values():
        try:
            v.slab_flags.parse(text)
            return text
        except ValueError as e:
            why = str(e)
    raise argparse.ArgumentTypeError(why)


def cache_flags(args: argparse.Namespace) -> int:
    """The scullc cache's flags in the chosen kernel's SLAB_* values (default SLAB_HWCACHE_ALIGN)."""
    flags = kernel_version(args.kernel).slab_flags
    return flags.SLAB_HWCACHE_ALIGN if args.cache_flags is None else flags.parse(args.cache_flags)


# `scullcfs NAME ...` runs a subcommand instead of mounting (a mount point of
# that name: ./NAME). name -> (module, one-line summary for --help)
SUBCOMMANDS = {
    "top": ("scullcfs.top", "a live view of a mount: zones, caches, devices"),
    "memmap": ("scullcfs.memmap_cmd", "picture every page frame of a mount (PNG or text)"),
    "slabtop": ("scullcfs.slabtop", "the real procps slabtop on a mount's slabinfo"),
    "stress": ("scullcfs.stress", "writers, readers and trimmers on every device, every byte checked"),
    "bench": ("scullcfs.bench", "how fast scullcfs is, against the ceiling of its stack"),
    "compare": ("scullcfs.compare", "the scull family side by side on the same memory"),
    "gfp-tour": ("scullcfs.gfp_tour", "every GFP flag at work on small fresh machines"),
}

def version_text() -> str:
    """`scullcfs --version`: the package's version and the kernel(s) it simulates."""
    from importlib import metadata
    try:
        version = metadata.version("scullcfs")
    except metadata.PackageNotFoundError:
        version = "(not installed: run from a checkout)"
    kernels = ", ".join(f"{v.release} ({v.arch.name}, {v.slab_name})" for v in VERSIONS.values())
    # which allocator runs: the mypyc-compiled modules or their source (allocator/_pure.py)
    return f"scullcfs {version}, simulating Linux {kernels}; default {DEFAULT_VERSION}; allocator {BUILD}"


def run_subcommand(name: str, argv: list[str]) -> int:
    import importlib
    subcommand_main: Callable[[list[str]], int] = importlib.import_module(SUBCOMMANDS[name][0]).main
    return subcommand_main(argv)


def _kernel_arg(text: str) -> str:
    if text not in VERSIONS:
        raise argparse.ArgumentTypeError(f"unknown kernel version {text!r} (known: {', '.join(VERSIONS)})")
    return text


class _Parser(argparse.ArgumentParser):
    """Every argument error is one line and exit 2: `scullcfs: --mem: ...; see --help`."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            message = message[len("argument "):]
        message = message.replace("\n", " ").strip()
        self.exit(2, f"{self.prog}: {message}; see --help\n")


def build_parser() -> argparse.ArgumentParser:
    width = max(map(len, SUBCOMMANDS))
    subcommands = "\n".join(f"  scullcfs {name:{width}s}  {summary}"
                            for name, (_, summary) in SUBCOMMANDS.items())
    p = _Parser(
        prog="scullcfs",
        usage="scullcfs MNT [options]\n       scullcfs --unmount [--force] MNT\n"
              "       scullcfs SUBCOMMAND [args]   (see below)\n       scullcfs --version",
        description="Mount a simulated 2.6 kernel memory allocator with LDD3's scullc devices.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"subcommands (`scullcfs NAME --help` for each):\n{subcommands}\n\n"
               "A mount point named like a subcommand mounts as ./NAME (scullcfs ./top).\n"
               "Unmount with `fusermount3 -u MNT` or `scullcfs --unmount MNT`.")
    p.add_argument("--version", action="version", version=version_text(),
                   help="print the version and the kernel it simulates, and exit")
    p.add_argument("mountpoint", help="an existing empty directory")
    p.add_argument("--unmount", action="store_true",
                   help="unmount MNT and wait for the daemon to exit; refused while files"
                        " under MNT are open (as fusermount3 -u), unless --force")
    p.add_argument("--force", action="store_true",
                   help="with --unmount: end the daemon even if files are open (their"
                        " holders then get ENOTCONN)")
    m = p.add_argument_group("simulated machine")
    m.add_argument("--kernel", type=_kernel_arg, default=DEFAULT_VERSION, metavar="VERSION",
                   help=f"the kernel version to simulate: {', '.join(VERSIONS)} (default {DEFAULT_VERSION})")
    m.add_argument("--mem", type=_size_arg, default=1 << 30, metavar="SIZE",
                   help="physical RAM, with K/M/G suffix (default 1G)")
    m.add_argument("--nodes", type=_int_arg(1, 64), default=1, help="NUMA nodes (default 1)")
    m.add_argument("--cpus", type=_int_arg(1, 256), default=2, help="simulated CPUs (default 2)")
    m.add_argument("--page-size", type=_int_arg(4096, 4096), default=4096, help="page size (4096)")
    m.add_argument("--slab-debug", action="store_true", help="red zones, poisoning, slab statistics")
    m.add_argument("--background", type=_percent_arg, default=5, metavar="PCT",
                   help="fill dentry_cache, inode_cache and buffer_head with PCT%% of lowmem at boot"
                        " (default 5; 0 for an empty machine)")
    d = p.add_argument_group("scullc driver")
    for opt, pname in (("--quantum", "scullc_quantum"), ("--qset", "scullc_qset"), ("--devs", "scullc_devs")):
        param = ScullcDriver.PARAMS[pname]  # the driver's default and bounds
        d.add_argument(opt, type=_int_arg(param.lo, param.hi), default=param.default,
                       help=f"{pname} ({param.default})")
    d.add_argument("--cache-flags", type=_flags_arg, default=None, metavar="FLAGS",
                   help="flags of the scullc cache (default SLAB_HWCACHE_ALIGN)")
    d.add_argument("--family", default="scullc", metavar="LIST",
                   help="drivers to load: scullc,scull,scullp,scullv,scullm (default scullc;"
                        " scullc is always loaded)")
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a family module parameter as insmod takes it (scull_quantum=2000,"
                        " scullv_order=2, scullm_min_nr=32); repeatable")
    d.add_argument("--ldd3-io", action="store_true",
                   help="the driver's exact I/O: one quantum per call, holes end a read")
    f = p.add_argument_group("daemon")
    f.add_argument("--foreground", "-f", action="store_true", help="do not daemonize")
    f.add_argument("--debug", action="store_true", help="log every kernel message and FUSE errors")
    f.add_argument("--allow-other", action="store_true", help="let other users see the mount")
    f.add_argument("--pidfile", metavar="FILE", help="write the daemon's PID here")
    f.add_argument("--log", metavar="FILE", help="append the kernel log and daemon messages here")
    f.add_argument("--max-tasks", type=_int_arg(1, 1000), default=32,
                   help="concurrent FUSE requests (default 32)")
    return p


def daemon_running(pid: int) -> bool:
    """Has the daemon not finished yet? A zombie has: it has unloaded and exited,
    only its parent has not reaped it (a harness that started it --foreground)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def holders(mountpoint: str) -> list[str]:
    """`pid (comm)` of every process with a file open or mapped, its cwd or its
    root under mountpoint, as far as /proc lets us see (other users' are hidden)."""
    top = os.path.realpath(mountpoint)
    under: Callable[[str], bool] = lambda path: path == top or path.startswith(top + "/")  # noqa: E731
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        base = f"/proc/{entry}"
        links = []
        for name in ("cwd", "root"):
            try:
                links.append(os.readlink(f"{base}/{name}"))
            except OSError:
                pass
        try:
            for fd in os.listdir(f"{base}/fd"):
                try:
                    links.append(os.readlink(f"{base}/fd/{fd}"))
                except OSError:
                    pass
        except OSError:
            pass
        try:  # an mmap keeps the mount busy too (dmesg -F maps proc/kmsg)
            with open(f"{base}/maps") as f:
                links += [line.split(None, 5)[-1].rstrip("\n") for line in f if " /" in line]
        except OSError:
            pass
        if any(under(link) for link in links):
            try:
                with open(f"{base}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                comm = "?"
            found.append(f"{entry} ({comm})")
    return found


def unmount(mountpoint: str, timeout: float = 20, force: bool = False) -> int:
    """fusermount3 -u and wait for the daemon to exit. A busy mount (a process
    holds a file open or sleeps in a write) is refused as fusermount3 refuses it,
    naming the holders; with force the daemon is asked to finish (SIGTERM)."""
    import time
    try:
        with open(os.path.join(mountpoint, "sys/kernel/debug/scullc/daemon_pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        pid = None
    r = subprocess.run(["fusermount3", "-u", mountpoint], capture_output=True, text=True)
    if r.returncode:
        reason = r.stderr.strip().removeprefix("fusermount3: ")
        if pid is None:
            print(f"scullcfs: cannot unmount {mountpoint}: {reason}", file=sys.stderr)
            return 1
        if not force:
            who = holders(mountpoint)
            print(f"scullcfs: {mountpoint} is busy"
                  + (f": open by {', '.join(who)}" if who else f" ({reason})")
                  + "; close those files, or --unmount --force", file=sys.stderr)
            return 1
        who = holders(mountpoint)
        os.kill(pid, signal.SIGTERM)
        print(f"scullcfs: {mountpoint} was busy" + (f" (open by {', '.join(who)})" if who else "")
              + f": sent SIGTERM to the daemon {pid}; those files now fail with ENOTCONN",
              file=sys.stderr)
    if pid is not None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not daemon_running(pid):
                return 0
            time.sleep(0.05)
        print(f"scullcfs: daemon {pid} did not exit within {timeout:.0f} s", file=sys.stderr)
        return 1
    return 0


# kswapd's second look at a node it could not balance (2.6.18 loops at once;
# the mount's background task gives the requests a turn in between)
KSWAPD_PERIOD = 0.1
EXIT_SWEEP_PERIOD = 1.0


def report_slab_leaks(kernel: Kernel) -> None:
    """At unmount, after the drivers' cleanup: the caches (not the kernel's own) that
    still hold objects, in the mounted kernel's words. 2.6.18: mm/slab.c
    kmem_cache_destroy's "slab error in kmem_cache_destroy(): cache `%s': Can't free
    all objects" (a failed destroy leaves the cache on cache_chain, so it is found
    here). 6.18: a failed destroy unlinks the cache; one still here was never
    destroyed, and is, as the module's exit would: mm/slub.c list_slab_objects
    ("BUG %s (Not tainted): Objects remaining on __kmem_cache_shutdown()", each
    object) and mm/slab_common.c's WARN "kmem_cache_destroy %s: Slab cache still has
    objects when called from %pS"."""
    for c in kernel.slab_leaks():
        if kernel.version.release == "2.6.18":
            kernel.log.printk(KERN_ERR, f"slab error in kmem_cache_destroy(): cache `{c.name}':"
                                        f" Can't free all objects")
        else:
            __do_sys_delete_module(kernel, c)


def __do_sys_delete_module(kernel: Kernel, cache: CachePart) -> None:
    """The unload path's kmem_cache_destroy of a cache left behind (its name is the
    %pS caller the 6.18 report prints); every reference, as merged caches hold several."""
    while cache in kernel.caches():
        refs = getattr(cache, "refcount", 1)
        kernel.kmem_cache_destroy(cache)
        if getattr(cache, "refcount", 0) >= refs:
            break


def forget_exited(kernel: Kernel) -> None:
    """sched.exit_task for every task whose process is gone (no /proc/PID on
    the host): the OOM killer no longer sees it (2.6.18 select_bad_process
    walks only live tasks, do_each_thread), and a new process that gets the
    pid starts afresh (an OOM victim's death is complete)."""
    for pid in [pid for pid in kernel.sched.tasks if pid > 0]:
        if not os.path.exists(f"/proc/{pid}"):
            exit_task(kernel.sched, pid)


def boot(args: argparse.Namespace) -> tuple[Kernel, list[Driver]]:
    from .drivers import load_drivers
    kernel = Kernel(version=args.kernel, mem=args.mem, nodes=args.nodes, cpus=args.cpus,
                    slab_debug=args.slab_debug, background=args.background)
    scullc = {"scullc_quantum": args.quantum, "scullc_qset": args.qset, "scullc_devs": args.devs}
    drivers = load_drivers(kernel, scullc, args.family, args.param, args.ldd3_io, cache_flags(args))
    return kernel, drivers


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:  # a mount point of that name: ./NAME
        return run_subcommand(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    mnt = args.mountpoint
    if args.force and not args.unmount:
        parser.error("--force: only with --unmount")
    if args.unmount:
        return unmount(mnt, force=args.force)
    if not os.path.lexists(mnt):
        parser.error(f"{mnt}: does not exist (create the directory first)")
    if not os.path.isdir(mnt):
        parser.error(f"{mnt}: not a directory")
    if os.path.ismount(mnt):
        print(f"scullcfs: {mnt}: already a mount point", file=sys.stderr)
        return 1
    from .drivers import parse_family_args
    try:
        parse_family_args(args.family, args.param)  # before booting: a typo costs nothing
    except ValueError as e:
        parser.error(str(e))
    try:
        kernel, driver = boot(args)
    except ValueError as e:  # a combination of arguments the kernel or a driver refuses
        parser.error(str(e))
    except MemoryError as e:
        print(f"scullcfs: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the host cannot map the simulated RAM, even unreserved
        print(f"scullcfs: --mem {args.mem >> 20}M: the host cannot map that much memory:"
              f" {e.strerror or e}", file=sys.stderr)
        return 1
    _setup_logging(args, kernel)
    ready_w = None
    if not args.foreground:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid:
            os.close(ready_w)
            status = os.read(ready_r, 4096).decode(errors="replace")
            if status == "ok":
                return 0
            print(f"scullcfs: {status or 'the daemon died before mounting'}", file=sys.stderr)
            return 1
        os.close(ready_r)
        os.setsid()
        _detach(args.log)
    return serve(args, kernel, driver, ready_w)


def _setup_logging(args: argparse.Namespace, kernel: Kernel) -> None:
    stream = open(args.log, "a", buffering=1) if args.log else sys.stderr
    logging.basicConfig(stream=stream, level=logging.DEBUG if args.debug else logging.INFO,
                        format="scullcfs: %(message)s")
    threshold = 7 if args.debug else KERN_WARNING

    def echo(rec: LogRecord) -> None:
        if rec.level <= threshold:
            print(f"<{rec.level}>[{rec.seconds:12.6f}] {rec.text}", file=stream, flush=True)
    for rec in kernel.log.records:  # what boot() logged before anyone listened
        echo(rec)
    kernel.log.listeners.append(echo)


def _detach(logfile: str | None) -> None:
    fd = os.open(os.devnull, os.O_RDWR)
    os.dup2(fd, 0)
    out = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if logfile else fd
    os.dup2(out, 1)
    os.dup2(out, 2)


def serve(args: argparse.Namespace, kernel: Kernel, driver: list[Driver], ready_w: int | None = None) -> int:
    import pyfuse3
    import trio

    from .fs import ScullcOperations
    from .tree import Tree

    settings = Settings()
    tree = Tree(kernel, driver, settings)
    tracer = tree.tracer  # debugfs declares it: every mount's tree has one
    if tracer is None:
        raise RuntimeError("the mount's tree has no debugfs tracing (debugfs.declare_files did not run)")
    ops = ScullcOperations(kernel, tree)
    ops.waitq.mountpoint = os.path.realpath(args.mountpoint)  # a sleeper that finds it detached (-uz) gives up
    kernel.sched.task_alive = lambda pid: os.path.exists(f"/proc/{pid}")  # the OOM killer sees live tasks only
    options = set(pyfuse3.default_options)
    options |= {"fsname=scullcfs", "subtype=scullcfs", "default_permissions"}
    if args.allow_other:
        options.add("allow_other")
    try:
        pyfuse3.init(ops, args.mountpoint, options)
    except Exception as e:  # pyfuse3 raises RuntimeError/OSError with libfuse's reason
        msg = f"cannot mount {args.mountpoint}: {e}"
        if ready_w is not None:
            os.write(ready_w, msg.encode())
        else:
            print(f"scullcfs: {msg}", file=sys.stderr)
        return 1
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    if ready_w is not None:
        os.write(ready_w, b"ok")
        os.close(ready_w)
    log.info("mounted %s (pid %d)", args.mountpoint, os.getpid())

    async def reaper(cache_reap: Callable[[], None]) -> None:
        # cache_reap runs from the events/0 workqueue thread, not a user process
        from allocator.kernel import Task
        events = Task(0, 0, "events/0")
        while True:
            await trio.sleep(REAPTIMEOUT_CPUC)
            saved, kernel.current = kernel.current, events
            cache_reap()
            kernel.current = saved

    kswapd_wakeup = trio.Event()

    def wakeup_kswapd(node_id: int) -> None:
        # called from inside an allocation (wakeup_kswapd), in trio's thread:
        # only wake the background task, which runs balance_pgdat
        kswapd_wakeup.set()
    kernel.page_alloc.kswapd_wake = wakeup_kswapd

    async def kswapd() -> None:
        # mm/vmscan.c kswapd (2.6.18): sleeps until woken below a zone's low
        # watermark, then balance_pgdat; Kernel.kswapd_run runs it as kswapd<N>
        # (the node's kernel thread is current meanwhile). A node it could not
        # balance stays woken: go again every KSWAPD_PERIOD until it is.
        nonlocal kswapd_wakeup
        while True:
            await kswapd_wakeup.wait()
            kswapd_wakeup = trio.Event()
            while True:
                kernel.kswapd_run()
                if not any(node.kswapd_woken for node in kernel.nodes):
                    break
                await trio.sleep(KSWAPD_PERIOD)

    async def exited() -> None:
        # A task whose process has exited is forgotten (sched.exit_task): the OOM
        # killer no longer sees it, and a new process that gets the pid starts afresh.
        while True:
            await trio.sleep(EXIT_SWEEP_PERIOD)
            forget_exited(kernel)

    async def signals(cancel_scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as sigs:
            async for signum in sigs:
                log.info("signal %d: unmounting", signum)
                pyfuse3.terminate()
                tracer.shutdown()  # trace_pipe readers stop waiting
                ops.waitq.shutdown()  # sleeping writers give up, or main() never returns
                return

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            if kernel.cache_reap is not None:   # SLAB's reaper; SLUB has none
                nursery.start_soon(reaper, kernel.cache_reap)
            nursery.start_soon(kswapd)
            nursery.start_soon(exited)
            nursery.start_soon(signals, nursery.cancel_scope)
            await pyfuse3.main(min_tasks=1, max_tasks=args.max_tasks)
            nursery.cancel_scope.cancel()

    clean = False
    try:
        trio.run(run)
        clean = True
    finally:
        pyfuse3.close(unmount=True)
        kernel.set_current(os.getpid(), "rmmod")
        for drv in reversed(driver):
            if not drv.cleanup():
                kernel.log.printk(KERN_ERR, f"{drv.name}: unloaded with memory still allocated (leak)")
        report_slab_leaks(kernel)
        log.info("unmounted %s%s", args.mountpoint, "" if clean else " after an error")
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
