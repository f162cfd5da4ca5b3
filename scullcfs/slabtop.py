"""scullcfs slabtop - the real procps slabtop on a scullcfs mount's slabinfo.

    scullcfs slabtop [MNT] [slabtop options...]      e.g.  scullcfs slabtop -o -s c
    tools/slabtop ...                                 (the same, from a checkout)

MNT is the first argument unless it starts with `-`, else $SCULLC_MNT, else
/mnt/scullc. MNT/proc/slabinfo is bind-mounted over /proc/slabinfo in a private mount
namespace (unshare -m; as a non-root user unshare -rm), so nothing outside this
command sees it; every other argument goes to slabtop unchanged (-o prints once, -s
sorts, -d sets the delay; `slabtop --help` lists them).
Exit status: slabtop's, or 1 if nothing is mounted at MNT or slabtop is missing.
"""
from __future__ import annotations

import os
import shutil
import sys

# The inner shell: bind the mount's slabinfo, then become slabtop ($1 is MNT).
INNER = 'mount --bind "$1/proc/slabinfo" /proc/slabinfo && shift && exec slabtop "$@"'


def _die(text: str) -> int:
    print(f"scullcfs slabtop: {text}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(__doc__)
        return 0
    mnt = os.environ.get("SCULLC_MNT", "/mnt/scullc")
    if argv and not argv[0].startswith("-"):
        mnt, argv = argv[0], argv[1:]
    mnt = mnt.rstrip("/") or "/"
    if shutil.which("slabtop") is None:
        return _die("procps slabtop is not installed (apt-get install procps)")
    if shutil.which("unshare") is None:
        return _die("unshare is not installed (util-linux)")
    slabinfo = os.path.join(mnt, "proc/slabinfo")
    if not os.path.exists(slabinfo):
        return _die(f"no scullcfs mounted at {mnt} (no {slabinfo}; tools/scullc_load mounts one,"
                    " or set SCULLC_MNT)")
    if not os.access(slabinfo, os.R_OK):
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
        return _die(f"{slabinfo} is not readable by {user} (mode 0600: run as the user who mounted it)")
    ns = ["unshare", "-m", "--propagation", "private"] if os.getuid() == 0 else \
        ["unshare", "-r", "-m", "--propagation", "private"]
    sys.stdout.flush()
    os.execvp(ns[0], [*ns, "sh", "-c", INNER, "slabtop", mnt, *argv])
    return 1  # not reached: execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main())
