#!/usr/bin/env bash
# tools/slabtop - the real procps slabtop on a scullcfs mount's slabinfo.
#
#   tools/slabtop [MNT] [slabtop options...]        e.g.  tools/slabtop -o -s c
#
# MNT is the first argument unless it starts with `-`, else $SCULLC_MNT, else /mnt/scullc.
# MNT/proc/slabinfo is bind-mounted over /proc/slabinfo in a private mount namespace
# (unshare -m; as a non-root user unshare -rm), so nothing outside this command sees
# it; every other argument goes to slabtop unchanged (-o prints once, -s sorts, -d
# sets the delay).
# Exit status: slabtop's, or 1 if nothing is mounted at MNT or slabtop is missing.
set -euo pipefail

MNT="${SCULLC_MNT:-/mnt/scullc}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    MNT="$1"
    shift
fi
MNT="${MNT%/}"

die() { printf 'slabtop: %s\n' "$*" >&2; exit 1; }

command -v slabtop >/dev/null || die "procps slabtop is not installed (apt-get install procps)"
command -v unshare >/dev/null || die "unshare is not installed (util-linux)"
[ -e "$MNT/proc/slabinfo" ] || die "no scullcfs mounted at $MNT (no $MNT/proc/slabinfo; tools/scullc_load mounts one, or set SCULLC_MNT)"
[ -r "$MNT/proc/slabinfo" ] || die "$MNT/proc/slabinfo is not readable by $(id -un) (mode 0600: run as the user who mounted it)"

if [ "$(id -u)" -eq 0 ]; then
    ns=(unshare -m --propagation private)
else
    ns=(unshare -r -m --propagation private)
fi
# shellcheck disable=SC2016  # $1 and $@ belong to the inner shell
exec "${ns[@]}" sh -c 'mount --bind "$1/proc/slabinfo" /proc/slabinfo && shift && exec slabtop "$@"' \
    slabtop "$MNT" "$@"
