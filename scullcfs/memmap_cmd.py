"""scullcfs memmap - picture every page frame of a mounted scullcfs.

    scullcfs memmap [MNT] [-o out.png] [--text] [--width N] [--cell N] [--per-char N]
    tools/memmap ...            (the same, from a checkout)

Reads MNT/sys/kernel/debug/scullc/pagemap (one snapshot of a live mount; MNT
defaults to $SCULLC_MNT or /mnt/scullc) and draws one band per zone per node, each
page a pixel (or a cell of N x N pixels), coloured by its owner, with each zone's
unusable free space index for order 3 and a legend with page counts
(allocator/memmap.py). `--text` prints an ASCII map instead (one character per
N pages); with `-o` too, both. `--width` is the picture's width in pixels (1024)
or, with --text, the map's width in characters (64).

The PNG is drawn with Pillow (a dependency of the package). Exit status: 0 done,
1 no mount (or no Pillow), 2 bad arguments.
"""
from __future__ import annotations

import os
import sys
import time

from allocator.memmap import png_size, render_png, render_text
from allocator.pagemap import parse_pagemap

from .cli import _Parser

PAGEMAP = "sys/kernel/debug/scullc/pagemap"


def main(argv: list[str] | None = None) -> int:
    p = _Parser(prog="scullcfs memmap", description="Picture every page frame of a scullcfs mount.")
    p.add_argument("mountpoint", nargs="?", default=os.environ.get("SCULLC_MNT", "/mnt/scullc"),
                   help="the mount (default $SCULLC_MNT or /mnt/scullc)")
    p.add_argument("-o", "--output", metavar="PNG", help="write the picture here (default memmap.png"
                   " unless --text)")
    p.add_argument("--text", action="store_true", help="print an ASCII map")
    p.add_argument("--width", type=int, metavar="N", help="pixels (1024), or characters with --text (64)")
    p.add_argument("--cell", type=int, metavar="N", help="pixels per page side (default: fit the width)")
    p.add_argument("--per-char", type=int, metavar="N", help="pages per character of --text")
    p.add_argument("--pagemap", metavar="FILE", help="read a saved pagemap instead of MNT's")
    args = p.parse_args(argv)
    for name in ("width", "cell", "per_char"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    source = args.pagemap or os.path.join(args.mountpoint, PAGEMAP)
    try:
        with open(source) as f:
            text = f.read()
    except OSError as e:
        where = "" if args.pagemap else f" (is a scullcfs mounted at {args.mountpoint}? tools/scullc_load or scullcfs MNT mounts one)"
        print(f"memmap: cannot read {source}: {e.strerror}{where}", file=sys.stderr)
        return 1
    try:
        runs = parse_pagemap(text)
    except ValueError as e:
        print(f"memmap: {source}: {e}", file=sys.stderr)
        return 1
    if args.text:
        sys.stdout.write(render_text(runs, width=args.width or 64, per_char=args.per_char))
    output = args.output or (None if args.text else "memmap.png")
    if output:
        try:
            import PIL  # noqa: F401
        except ImportError:
            print("memmap: the PNG needs Pillow (pip install pillow, a dependency of scullcfs);"
                  " --text works without it", file=sys.stderr)
            return 1
        start = time.perf_counter()
        width = args.width or 1024
        render_png(runs, output, width=width, cell=args.cell)
        w, h = png_size(runs, width, args.cell)
        pages = sum(r.count for r in runs)
        print(f"memmap: wrote {output} ({w}x{h}, {pages} pages) in {time.perf_counter() - start:.2f} s",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
