"""scullcfs gfp-tour - every GFP flag at work on small fresh machines.

The tour itself is the shell script beside this module (gfp_tour.sh: dd, cmp and
awk over the mounted files, as a user at a shell would watch them); this runs it
with bash, its daemons being `python -m scullcfs` of this interpreter and package.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .mount import daemon_env

SCRIPT = Path(__file__).with_name("gfp_tour.sh")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    bash = shutil.which("bash")
    if bash is None:
        print("scullcfs gfp-tour: bash is not on PATH", file=sys.stderr)
        return 2
    env = daemon_env()
    env["SCULLCFS_PYTHON"] = sys.executable
    sys.stdout.flush()
    os.execve(bash, [bash, str(SCRIPT), *argv], env)
    return 2  # not reached


if __name__ == "__main__":
    sys.exit(main())
