"""`scullcfs top MNT`: a refreshing view of a mounted scullcfs.

    scullcfs top MNT [--once] [--interval S] [--caches N]
    python -m scullcfs.top MNT ...

Three sections, read from the mounted files only (so it watches any live mount
without touching the daemon): zones with free pages, watermarks and free blocks
per buddy order (proc/zoneinfo, proc/buddyinfo); the caches using the most slab
memory (proc/slabinfo); every device's size and quanta (sys/class/*/*/size,
quanta). `q` quits. `--once` prints one plain-text snapshot and exits, for scripts;
so does a run whose output is not a terminal.
"""
from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

PAGE_KB = 4


def _read(mnt: str, path: str) -> str:
    with open(os.path.join(mnt, path)) as f:
        return f.read()


def parse_zoneinfo(text: str) -> list[dict[str, Any]]:
    """Zones of /proc/zoneinfo: node, zone, free, min, low, high, spanned, present
    (and managed, which 6.x prints)."""
    zones: list[dict[str, Any]] = []
    zone: dict[str, Any] | None = None
    for line in text.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)", line)
        if m:
            zone = {"node": int(m.group(1)), "zone": m.group(2)}
            zones.append(zone)
            continue
        if zone is None:
            continue
        words = line.split()
        if words[:2] == ["pages", "free"]:
            zone["free"] = int(words[2])
        elif len(words) == 2 and words[0] in ("min", "low", "high", "spanned", "present", "managed") \
                and words[0] not in zone:
            zone[words[0]] = int(words[1])
    return zones


def zone_mark(z: dict[str, Any]) -> str:
    """' <min' or ' <low' for a zone whose free pages are under that watermark. A
    zone with no pages (6.x lists empty zones: Movable and Device, Normal below
    4 GiB, a DMA32 the boot reservations took whole on a small --mem: managed 0;
    2.6.18 lists populated zones only) has nothing to run short of: no mark,
    whatever watermarks it prints (6.18 gives an empty Movable zone 32)."""
    if z.get("managed", z.get("present", 0)) == 0:
        return ""
    free = z.get("free", 0)
    return " <min" if free < z.get("min", 0) else " <low" if free < z.get("low", 0) else ""


def parse_buddyinfo(text: str) -> dict[tuple[int, str], list[int]]:
    """(node, zone) -> free blocks per order."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)\s+(.*)", line)
        if m:
            out[(int(m.group(1)), m.group(2))] = [int(x) for x in m.group(3).split()]
    return out


def parse_slabinfo(text: str) -> list[dict[str, Any]]:
    """Caches of slabinfo 2.1 with their slab memory in KiB."""
    caches = []
    for line in text.splitlines():
        if line.startswith(("slabinfo", "#")) or not line.strip():
            continue
        head, _, rest = line.partition(" : ")
        words = head.split()
        slabdata = rest.split(" : ")[1].split() if " : " in rest else []
        try:
            name, active, num, objsize, perslab, pages = (words[0], *map(int, words[1:6]))
            num_slabs = int(slabdata[2])
        except (ValueError, IndexError):
            continue
        caches.append({"name": name, "active_objs": active, "num_objs": num, "objsize": objsize,
                       "objperslab": perslab, "pagesperslab": pages, "num_slabs": num_slabs,
                       "kb": num_slabs * pages * PAGE_KB})
    return caches


def _device_order(name: str) -> tuple[str, int]:
    """scullc2 before scullc10: the name without its number, then the number."""
    m = re.fullmatch(r"(.*?)(\d*)", name)
    assert m is not None  # (\d*) matches the empty string too
    return m[1], int(m[2] or 0)


def read_devices(mnt: str) -> list[tuple[str, int, int]]:
    """(device, size, quanta) of every device under sys/class/*/."""
    out: list[tuple[str, int, int]] = []
    base = os.path.join(mnt, "sys/class")
    try:
        classes = sorted(os.listdir(base))
    except OSError:
        return out
    for cls in classes:
        try:
            devs = os.listdir(os.path.join(base, cls))
        except OSError:
            continue
        for dev in sorted(devs, key=_device_order):
            try:
                size = int(_read(mnt, f"sys/class/{cls}/{dev}/size"))
                quanta = int(_read(mnt, f"sys/class/{cls}/{dev}/quanta"))
            except (OSError, ValueError):
                continue
            out.append((dev, size, quanta))
    return out


def snapshot(mnt: str, ncaches: int = 10) -> str:
    """One plain-text view of the mount: Zones, Caches, Devices."""
    zones = parse_zoneinfo(_read(mnt, "proc/zoneinfo"))
    buddy = parse_buddyinfo(_read(mnt, "proc/buddyinfo"))
    caches = parse_slabinfo(_read(mnt, "proc/slabinfo"))
    devices = read_devices(mnt)
    out = [f"scullcfs top - {mnt} - {time.strftime('%H:%M:%S')}", ""]
    total_free = sum(z.get("free", 0) for z in zones)
    total = sum(z.get("present", 0) for z in zones)
    slab_kb = sum(c["kb"] for c in caches)
    out.append(f"Memory: {total * PAGE_KB // 1024} MiB present, {total_free * PAGE_KB // 1024} MiB free,"
               f" {slab_kb // 1024} MiB in slabs")
    out.append("")
    out.append("Zones (pages; free blocks per buddy order 0..10)")
    out.append(f"  {'ZONE':<15} {'FREE':>7} {'MIN':>7} {'LOW':>7} {'HIGH':>7}   "
               + " ".join(f"{o:>4}" for o in range(11)))
    for z in zones:
        orders = buddy.get((z["node"], z["zone"]), [])
        mark = zone_mark(z)
        out.append(f"  Node {z['node']} {z['zone']:<8} {z.get('free', 0):7d} {z.get('min', 0):7d}"
                   f" {z.get('low', 0):7d} {z.get('high', 0):7d}   "
                   + " ".join(f"{n:4d}" for n in orders) + mark)
    out.append("")
    busiest = sorted(caches, key=lambda c: (-c["kb"], c["name"]))[:ncaches]
    out.append(f"Caches (the {len(busiest)} using most slab memory)")
    out.append(f"  {'NAME':<20} {'OBJS':>8} {'ACTIVE':>8} {'OBJSIZE':>8} {'SLABS':>7} {'PAGES':>7} {'MEMORY':>10}")
    for c in busiest:
        out.append(f"  {c['name']:<20} {c['num_objs']:8d} {c['active_objs']:8d} {c['objsize']:8d}"
                   f" {c['num_slabs']:7d} {c['num_slabs'] * c['pagesperslab']:7d} {c['kb']:8d}kB")
    out.append("")
    out.append("Devices")
    out.append(f"  {'DEVICE':<12} {'SIZE':>12} {'QUANTA':>8}")
    for dev, size, quanta in devices:
        out.append(f"  {dev:<12} {size:12d} {quanta:8d}")
    return "\n".join(out) + "\n"


def _curses_loop(mnt: str, interval: float, ncaches: int) -> int:
    import curses

    def run(stdscr: curses.window) -> None:
        curses.curs_set(0)
        stdscr.timeout(int(interval * 1000))
        while True:
            try:
                text = snapshot(mnt, ncaches)
            except OSError as e:
                text = f"scullcfs top: {mnt}: {e}\n(q quits)"
            stdscr.erase()
            height, width = stdscr.getmaxyx()
            lines = text.splitlines() + ["", "q quits"]
            for y, line in enumerate(lines[:height - 1]):
                stdscr.addnstr(y, 0, line, width - 1)
            stdscr.refresh()
            key = stdscr.getch()
            if key in (ord("q"), ord("Q")):
                return

    try:
        curses.wrapper(run)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    from .cli import _Parser  # one-line argument errors, exit 2
    p = _Parser(prog="scullcfs top",
                description="Live view of a mounted scullcfs: zones, caches, devices.")
    p.add_argument("mountpoint", nargs="?", default=os.environ.get("SCULLC_MNT", "/mnt/scullc"),
                   help="the mount (default $SCULLC_MNT or /mnt/scullc)")
    p.add_argument("--once", action="store_true", help="print one snapshot as plain text and exit")
    p.add_argument("--interval", type=float, default=2.0, metavar="S", help="refresh period (2 s)")
    p.add_argument("--caches", type=int, default=10, metavar="N", help="caches shown (10)")
    args = p.parse_args(argv)
    if args.interval <= 0:
        p.error("--interval must be positive")
    if args.caches < 1:
        p.error("--caches must be positive")
    mnt = args.mountpoint
    if not os.path.exists(os.path.join(mnt, "proc/zoneinfo")):
        print(f"scullcfs top: {mnt} is not a mounted scullcfs (no {mnt}/proc/zoneinfo)", file=sys.stderr)
        return 1
    if args.once or not (sys.stdout.isatty() and sys.stdin.isatty()):
        try:
            sys.stdout.write(snapshot(mnt, args.caches))
        except OSError as e:
            print(f"scullcfs top: {e}", file=sys.stderr)
            return 1
        return 0
    return _curses_loop(mnt, args.interval, args.caches)


if __name__ == "__main__":
    sys.exit(main())
