# tools/scullc_state.sh - the mount and daemon state shared by scullc_load and
# scullc_unload (sourced by both, not run).
#
# Every mount point has its own state, in $SCULLC_RUNDIR (default /run/scullcfs),
# named from the absolute mount path escaped as `systemd-escape --path` does
# (/mnt/scullc -> mnt-scullc):
#     NAME.pid      the daemon's PID (written by scullcfs --pidfile)
#     NAME.log      the kernel log and daemon messages (scullcfs --log)
#     NAME.params   the parameters it was loaded with, one per line
#     NAME.logpos   where the current load's part of NAME.log starts
#     NAME.lock     held (flock) while a scullc_load or scullc_unload of MNT runs
# A PID is signalled or waited for only once it is verified to be the scullcfs
# daemon serving this mount point (its command line names scullcfs and MNT, or the
# live mount's own sys/kernel/debug/scullc/daemon_pid says so).
#
# The sourcing script sets PROG (for messages) and MNT, then calls state_init.

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_die() { printf '%s: %s; see --help\n' "$PROG" "$*" >&2; exit 2; }

# The leading comment block of the running script, without the '# '.
print_help() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

# /a/b-c d -> a-b\x2dc\x20d, as `systemd-escape --path`; / -> -
escape_path() {
    local p="$1" out="" c i LC_ALL=C
    while [[ "$p" == /* ]]; do p="${p#/}"; done
    while [[ "$p" == */ ]]; do p="${p%/}"; done
    [ -n "$p" ] || { printf -- '-'; return; }
    for ((i = 0; i < ${#p}; i++)); do
        c="${p:i:1}"
        if [ "$c" = / ]; then
            out+=-
        elif [[ "$c" == [a-zA-Z0-9:_] ]] || { [ "$c" = . ] && [ "$i" -gt 0 ]; }; then
            out+="$c"
        else
            out+="$(printf '\\x%02x' "'$c")"
        fi
    done
    printf '%s' "$out"
}

# The fstype of what is mounted exactly at $1, empty if nothing. Reads mountinfo:
# never touches the (possibly dead or hung) mount itself.
mounted_fstype() {
    awk -v mnt="$1" '
        function unoct(s,   out, i, c) {   # mountinfo escapes space, tab, \n, \\ as \ooo
            out = ""
            for (i = 1; i <= length(s); i++) {
                c = substr(s, i, 1)
                if (c == "\\" && substr(s, i + 1, 3) ~ /^[0-7][0-7][0-7]$/) {
                    out = out sprintf("%c", (substr(s, i + 1, 1) * 64) + (substr(s, i + 2, 1) * 8) + substr(s, i + 3, 1))
                    i += 3
                } else out = out c
            }
            return out
        }
        {
            if (unoct($5) != mnt) next
            for (i = 7; i <= NF; i++) if ($i == "-") { fs = $(i + 1); break }
        }
        END { if (fs != "") print fs }' /proc/self/mountinfo
}

# MNT made absolute. A path that is a mount point as written is kept as it is (so
# a hung mount is never looked up); otherwise symlinks are resolved, as the kernel
# records mount points resolved.
absolute_mnt() {
    local plain
    plain="$(realpath -s -m -- "$1")"
    if [ -n "$(mounted_fstype "$plain")" ]; then
        printf '%s' "$plain"
    else
        timeout 5 realpath -m -- "$1" 2>/dev/null || printf '%s' "$plain"
    fi
}

state_init() {
    MNT="$(absolute_mnt "$MNT")"
    RUNDIR="${SCULLC_RUNDIR:-/run/scullcfs}"
    RUNDIR="${RUNDIR%/}"; RUNDIR="${RUNDIR:-/}"
    local name
    name="$(escape_path "$MNT")"
    PIDFILE="$RUNDIR/$name.pid"
    LOG="$RUNDIR/$name.log"
    PARAMS="$RUNDIR/$name.params"
    LOGPOS="$RUNDIR/$name.logpos"
    LOCKFILE="$RUNDIR/$name.lock"
}

# One scullc_load/unload at a time per mount point: fd 9 holds NAME.lock until the
# script exits. Whatever outlives the script (the daemon) must be started 9>&-.
lock_state() {
    [ -d "$RUNDIR" ] || return 0
    exec 9>>"$LOCKFILE" || die "cannot open $LOCKFILE"
    if ! flock -n 9; then
        echo "scullc: waiting for another scullc_load/unload of $MNT" >&2
        flock -w 120 9 || die "another scullc_load/unload of $MNT still holds $LOCKFILE"
    fi
}

# none | live | stale | hung | foreign:<detail>
mount_state() {
    local fstype err rc
    fstype="$(mounted_fstype "$MNT")"
    [ -n "$fstype" ] || { echo none; return; }
    [ "$fstype" = fuse.scullcfs ] || { echo "foreign:$fstype"; return; }
    rc=0
    err="$(timeout 5 cat "$MNT/proc/meminfo" 2>&1 >/dev/null)" || rc=$?
    if [ "$rc" -eq 0 ]; then
        if timeout 5 test -e "$MNT/proc/scullcmem" && timeout 5 test -d "$MNT/dev"; then
            echo live
        else
            echo "foreign:$fstype without proc/scullcmem"
        fi
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo hung
    elif [[ "$err" == *"Transport endpoint is not connected"* ]]; then
        echo stale
    else
        echo "foreign:$fstype: ${err##*: }"
    fi
}

# Is PID still running? A thread-group leader that has returned from main shows as Z,
# with an empty cmdline, while its other threads still finish: that counts as running.
pid_running() {
    local pid="$1" state threads
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -d "/proc/$pid" ] || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
    [ "$state" = Z ] || return 0
    threads="$(awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" || return 1
    [ "${threads:-1}" -gt 1 ]
}

# Is PID a scullcfs daemon serving $MNT? Its command line has an argument naming
# scullcfs and one that is exactly $MNT (scullc_load passes the absolute path).
pid_serves_mnt() {
    local pid="$1" arg named=0 serves=0
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    while IFS= read -r -d '' arg; do
        [[ "$arg" == *scullcfs* ]] && named=1
        [ "$arg" = "$MNT" ] && serves=1
    done <"/proc/$pid/cmdline"
    [ "$named" -eq 1 ] && [ "$serves" -eq 1 ]
}

# The PID the live mount itself reports (empty if it does not answer).
tree_pid() {
    timeout 5 cat "$MNT/sys/kernel/debug/scullc/daemon_pid" 2>/dev/null | tr -dc '0-9' || true
}

# shellcheck disable=SC2015  # "|| true" is meant for both failures
pidfile_pid() { [ -f "$PIDFILE" ] && tr -dc '0-9' <"$PIDFILE" 2>/dev/null || true; }

# The verified daemon of $MNT: the pidfile's PID if it serves $MNT, else the PID a
# live mount reports; empty if neither.
daemon_pid() {
    local pid
    pid="$(pidfile_pid)"
    if [ -n "$pid" ] && pid_serves_mnt "$pid"; then echo "$pid"; return; fi
    if [ "${1:-}" = live ]; then
        pid="$(tree_pid)"
        if [ -n "$pid" ] && pid_running "$pid"; then echo "$pid"; return; fi
    fi
}

unmount_stale() {
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" \
        || die "could not unmount the stale mount at $MNT"
}

one_line() { printf '%s\n' "$1" | paste -sd ' '; }

remove_state() { rm -f "$PIDFILE" "$PARAMS" "$LOGPOS"; }

# The parameters the live mount runs with: quantum/qset/devs as its module
# parameters say now, then the scullcfs options recorded at load. One per line.
loaded_params() {
    local p v
    for p in quantum qset devs; do
        v="$(timeout 5 cat "$MNT/sys/module/scullc/parameters/scullc_$p" 2>/dev/null | tr -dc '0-9')" || true
        echo "$p=${v:-?}"
    done
    if [ -f "$PARAMS" ]; then
        grep -v -E '^(quantum|qset|devs)=' "$PARAMS" || true
    else
        echo "(scullcfs options unknown: not loaded by scullc_load)"
    fi
}
