#!/usr/bin/env bash
# scullcfs gfp-tour - watch every GFP flag at work on a fresh, small scullcfs.
#
#   scullcfs gfp-tour          (tools/gfp_tour from a checkout does the same)
#
# Mounts a few small simulated machines (32-64 MiB) on temporary mount points, one
# after the other, and on each shows what the allocator does when memory runs out:
# GFP_KERNEL sleeps for alloc_wait_ms and fails, __GFP_NORETRY fails at once,
# __GFP_NOFAIL waits until another device is trimmed, GFP_ATOMIC dips below the min
# watermark, __GFP_NOWARN keeps the log quiet, a SLAB_CACHE_DMA cache fails at the
# size of ZONE_DMA, GFP_NOFS/GFP_NOIO cannot reclaim fs/io-backed caches, drop_caches
# empties free slabs, min_free_kbytes moves the watermarks, __GFP_COLD is counted,
# and on two NUMA nodes a full node spills to the other. For each it prints what it
# did, what it expected, the kernel log and zoneinfo lines that show it, and
# PASS/FAIL. Data stored before every failure is read back with cmp.
#
# The daemons are `python -m scullcfs` of the interpreter that runs scullcfs gfp-tour
# (scullcfs/gfp_tour.py passes it as SCULLCFS_PYTHON; env SCULLCFS, a scullcfs
# program, overrides it). Every mount is unmounted on exit.
# Exit status: 0 every outcome as expected, 1 some differed, 2 could not run.
set -uo pipefail

case "${1:-}" in
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "scullcfs gfp-tour: unknown argument '$1'; see --help" >&2; exit 2 ;;
esac

die() { printf 'gfp_tour: %s\n' "$*" >&2; exit 2; }

if [ -n "${SCULLCFS:-}" ]; then
    BIN=("$SCULLCFS")
elif [ -n "${SCULLCFS_PYTHON:-}" ]; then
    BIN=("$SCULLCFS_PYTHON" -m scullcfs)
else
    die "run as \`scullcfs gfp-tour\` (or set SCULLCFS to a scullcfs program)"
fi
command -v fusermount3 >/dev/null 2>&1 || die "fusermount3 not found (apt-get install fuse3)"
[ -e /dev/fuse ] || die "/dev/fuse is missing: FUSE is not available here"
for tool in dd cmp awk head; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gfp_tour.XXXXXX")" || die "cannot create a temporary directory"
MNT=""          # the current mount point ("" when nothing is mounted)
DAEMON=""       # its daemon's PID
BG_PIDS=()      # background writers this script started
SRC="$WORK/src" # random bytes every device is filled from
PASSES=0
FAILS=0
T0=$SECONDS

# ---- mounting ----------------------------------------------------------------------

is_mounted() {  # reads mountinfo: never touches a (possibly hung) mount
    awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

unmount_fs() {
    [ -n "$MNT" ] || return 0
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    if is_mounted "$MNT"; then
        timeout 30 "${BIN[@]}" --unmount "$MNT" >/dev/null 2>&1 \
            || fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
    fi
    if [ -n "$DAEMON" ]; then
        local i
        for ((i = 0; i < 200; i++)); do
            kill -0 "$DAEMON" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$DAEMON" 2>/dev/null; then
            echo "gfp_tour: daemon $DAEMON still running 20 s after unmount: killing it" >&2
            kill -KILL "$DAEMON" 2>/dev/null
            FAILS=$((FAILS + 1))
        fi
    fi
    is_mounted "$MNT" && fusermount3 -uz "$MNT" 2>/dev/null
    for pid in "${BG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    BG_PIDS=()
    rmdir "$MNT" 2>/dev/null
    MNT=""
    DAEMON=""
}

cleanup() {
    unmount_fs
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

N=0
mount_fs() {  # mount_fs OPTION... : a fresh machine at a new mount point
    unmount_fs
    N=$((N + 1))
    MNT="$WORK/mnt$N"
    mkdir -p "$MNT"
    echo "\$ scullcfs MNT $*"
    if ! timeout 60 "${BIN[@]}" "$MNT" "$@" --pidfile "$WORK/pid$N" --log "$WORK/log$N" \
            </dev/null >"$WORK/out$N" 2>&1; then
        sed 's/^/  | /' "$WORK/out$N" "$WORK/log$N" 2>/dev/null | tail -20 >&2
        die "could not mount scullcfs $*"
    fi
    DAEMON="$(tr -dc '0-9' <"$WORK/pid$N" 2>/dev/null)"
    [ -r "$MNT/proc/meminfo" ] || die "mounted, but $MNT/proc/meminfo is not readable"
}

# ---- looking at the machine -----------------------------------------------------------

dev() { echo "$MNT/dev/scullc$1"; }
size() { cat "$MNT/sys/class/scullc/scullc$1/size"; }
set_gfp() { echo "$2" >"$MNT/sys/class/scullc/scullc$1/gfp"; }
set_wait() { echo "$1" >"$MNT/proc/sys/vm/alloc_wait_ms"; }
vmstat() { awk -v k="$1" '$1 == k { print $2 }' "$MNT/proc/vmstat"; }
kmsg_mark() { wc -l <"$MNT/proc/kmsg"; }
kmsg_since() { tail -n +"$(($1 + 1))" "$MNT/proc/kmsg"; }
warnings_since() { kmsg_since "$1" | grep -c 'page allocation failure'; }
now_ms() { date +%s%3N; }

zone() {  # zone NODE ZONE FIELD: free min low high present spanned, from proc/zoneinfo
    awk -v node="$1," -v zone="$2" -v field="$3" '
        $1 == "Node" { cur = ($2 == node && $4 == zone); next }
        !cur { next }
        field == "free" && $1 == "pages" && $2 == "free" { print $3; exit }
        $1 == field && NF == 2 { print $2; exit }' "$MNT/proc/zoneinfo"
}

zone_line() {  # one line: what zoneinfo says about a zone's free pages and watermarks
    printf '%s %-7s free %6s  min %5s  low %5s  high %5s  protection %s' "node$1" "$2" \
        "$(zone "$1" "$2" free)" "$(zone "$1" "$2" min)" "$(zone "$1" "$2" low)" \
        "$(zone "$1" "$2" high)" \
        "$(awk -v node="$1," -v zone="$2" '$1 == "Node" { cur = ($2 == node && $4 == zone) }
                cur && $1 == "protection:" { $1 = ""; print substr($0, 2); exit }' "$MNT/proc/zoneinfo")"
}

slab() {  # slab CACHE FIELD: active_objs num_objs active_slabs num_slabs, from proc/slabinfo
    awk -v c="$1" -v f="$2" '$1 == c {
        if (f == "active_objs") print $2; else if (f == "num_objs") print $3;
        else if (f == "active_slabs") print $14; else if (f == "num_slabs") print $15; exit }' \
        "$MNT/proc/slabinfo"
}

# ---- writing --------------------------------------------------------------------------

fill() {  # fill DEV: dd the source into the device (O_WRONLY: scullc trims it first)
    dd if="$SRC" of="$(dev "$1")" bs=1M 2>"$WORK/dd.err"
}

append() {  # append DEV BYTES: write the next BYTES of the source at the device's end.
    # Opened read-write by the shell (1<>): a write-only open would trim the device.
    local off
    off="$(size "$1")"
    dd if="$SRC" bs=64K iflag=skip_bytes,count_bytes oflag=seek_bytes skip="$off" seek="$off" \
        count="$2" status=none 2>"$WORK/dd.err" 1<>"$(dev "$1")"
}

intact() {  # intact DEV: the device holds exactly the first size bytes of the source
    head -c "$(size "$1")" "$SRC" | cmp -s - "$(dev "$1")"
}

# ---- reporting ------------------------------------------------------------------------

section() { printf '\n== %s ==\n' "$*"; }
say() { printf '  %-9s %s\n' "$1" "$2"; }
show_kmsg() {  # show_kmsg MARK: the interesting kernel log lines since MARK
    local lines
    lines="$(kmsg_since "$1" | grep -E 'page allocation failure|no memory freed|messages suppressed|allocating with|refused' | tail -n 6)"
    if [ -z "$lines" ]; then
        say "kmsg:" "(nothing new)"
    else
        local first=1 line
        while IFS= read -r line; do
            if [ "$first" = 1 ]; then say "kmsg:" "$line"; first=0; else say "" "$line"; fi
        done <<<"$lines"
    fi
}

check() {  # check DESCRIPTION COMMAND...: PASS if the command succeeds
    local what="$1"
    shift
    if "$@"; then
        printf '  PASS  %s\n' "$what"
        PASSES=$((PASSES + 1))
    else
        printf '  FAIL  %s\n' "$what"
        FAILS=$((FAILS + 1))
    fi
}

lt() { [ "$1" -lt "$2" ]; }
le() { [ "$1" -le "$2" ]; }
ge() { [ "$1" -ge "$2" ]; }
gt() { [ "$1" -gt "$2" ]; }
eq() { [ "$1" = "$2" ]; }
failed() { [ "$1" -ne 0 ]; }
answers() { timeout 10 cat "$1" >/dev/null; }
both() { "$1" "$2" "$3" && "$4" "$5" "$6"; }   # both lt 1 2 eq 3 3

head -c $((40 << 20)) /dev/urandom >"$SRC" || die "cannot write $SRC"

echo "gfp_tour: scullcfs is ${BIN[*]}"

# ==== machine 1: 32 MiB, no background caches =========================================

echo
mount_fs --mem 32M --devs 4 --background 0
WAIT_FILL=200   # ms: short while filling, so the tour stays quick
WAIT=1500       # ms: the wait that is measured
set_wait "$WAIT_FILL"

section "1. GFP_KERNEL sleeps for memory (alloc_wait_ms), then fails"
mark=$(kmsg_mark)
fill 0; rc=$?
stored0=$(size 0)
say "did:" "dd a 40 MiB file into scullc0 (GFP_KERNEL, a 32 MiB machine)"
say "expected:" "dd stops with ENOMEM; what was stored reads back intact"
say "got:" "dd exit $rc ($(grep -m1 'error writing' "$WORK/dd.err" | sed 's/.*: //')), $stored0 bytes stored"
check "the fill failed with ENOMEM" grep -q 'Cannot allocate memory' "$WORK/dd.err"
check "scullc0's $stored0 bytes read back intact (cmp)" intact 0
set_wait "$WAIT"
mark=$(kmsg_mark)
t=$(now_ms); append 0 262144; rc=$?; elapsed=$(($(now_ms) - t))
say "did:" "one more 256 KiB write to scullc0 with alloc_wait_ms=$WAIT"
say "expected:" "it sleeps at least $WAIT ms waiting for a free, then fails; the log says why"
say "got:" "dd exit $rc after $elapsed ms"
show_kmsg "$mark"
say "zoneinfo:" "$(zone_line 0 Normal)"
say "" "$(zone_line 0 DMA)"
check "the write failed" failed "$rc"
check "it waited $elapsed ms >= alloc_wait_ms $WAIT" ge "$elapsed" "$WAIT"
check "the log has 'dd: page allocation failure. order:0, mode:0xd0'" \
    grep -q 'dd: page allocation failure. order:0, mode:0xd0' <(kmsg_since "$mark")
check "Normal free ($(zone 0 Normal free)) is down to its min watermark ($(zone 0 Normal min))" \
    le "$(zone 0 Normal free)" "$(zone 0 Normal min)"
check "scullc0 still reads back intact" intact 0

section "2. __GFP_NORETRY: one reclaim pass, then fails without sleeping"
set_gfp 1 'GFP_KERNEL|__GFP_NORETRY'
mark=$(kmsg_mark)
t=$(now_ms); append 1 262144; rc=$?; elapsed=$(($(now_ms) - t))
say "did:" "scullc1 gfp = $(cat "$MNT/sys/class/scullc/scullc1/gfp"); a 256 KiB write (alloc_wait_ms=$WAIT)"
say "expected:" "ENOMEM well before alloc_wait_ms, with the warning (mode 0x10d0)"
say "got:" "dd exit $rc after $elapsed ms"
show_kmsg "$mark"
check "the write failed" failed "$rc"
check "it failed after $elapsed ms < alloc_wait_ms $WAIT" lt "$elapsed" "$WAIT"
check "the log has 'page allocation failure. order:0, mode:0x10d0'" \
    grep -q 'page allocation failure. order:0, mode:0x10d0' <(kmsg_since "$mark")
check "scullc0 still reads back intact" intact 0

section "3. __GFP_NOWARN: the same failure, no warning"
set_gfp 1 'GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN'
mark=$(kmsg_mark)
fails_before=$(vmstat pgalloc_fail)
append 1 262144; rc=$?
fails_after=$(vmstat pgalloc_fail)
say "did:" "scullc1 gfp = $(cat "$MNT/sys/class/scullc/scullc1/gfp"); a 256 KiB write"
say "expected:" "ENOMEM, counted in vmstat pgalloc_fail, but no 'page allocation failure' line"
say "got:" "dd exit $rc; pgalloc_fail $fails_before -> $fails_after; $(warnings_since "$mark") new warnings"
show_kmsg "$mark"
check "the write failed" failed "$rc"
check "the failure was counted (pgalloc_fail $fails_before -> $fails_after)" gt "$fails_after" "$fails_before"
check "no new 'page allocation failure' line" eq "$(warnings_since "$mark")" 0
check "scullc0 still reads back intact" intact 0

section "4. GFP_ATOMIC: never sleeps, and may dip below min"
normal_min=$(zone 0 Normal min)
say "before:" "$(zone_line 0 Normal)"
say "" "$(zone_line 0 DMA)"
set_gfp 2 GFP_ATOMIC
mark=$(kmsg_mark)
t=$(now_ms); append 2 2097152; rc=$?; elapsed=$(($(now_ms) - t))
stored2=$(size 2)
say "did:" "scullc2 gfp = GFP_ATOMIC; a 2 MiB write where GFP_KERNEL just failed"
say "expected:" "it stores something (ALLOC_HIGH|ALLOC_HARDER: down to ~3/8 of min), then ENOMEM at once"
say "got:" "dd exit $rc after $elapsed ms; $stored2 bytes stored"
show_kmsg "$mark"
say "after:" "$(zone_line 0 Normal)"
say "" "$(zone_line 0 DMA)"
check "GFP_ATOMIC stored $stored2 bytes where GFP_KERNEL could not" gt "$stored2" 0
check "Normal free ($(zone 0 Normal free)) went below min ($normal_min)" lt "$(zone 0 Normal free)" "$normal_min"
check "it did not sleep ($elapsed ms < alloc_wait_ms $WAIT)" lt "$elapsed" "$WAIT"
check "the log has 'page allocation failure. order:0, mode:0x20'" \
    grep -q 'page allocation failure. order:0, mode:0x20' <(kmsg_since "$mark")
check "scullc2's $stored2 bytes read back intact" intact 2
check "scullc0 still reads back intact" intact 0

section "5. __GFP_NOFAIL: sleeps until memory comes back, however long"
set_wait 500
set_gfp 3 'GFP_KERNEL|__GFP_NOFAIL'
mark=$(kmsg_mark)
stalls=$(vmstat allocstall)
dd if="$SRC" of="$(dev 3)" bs=64K count=16 status=none 2>"$WORK/nofail.err" &
nofail=$!
BG_PIDS+=("$nofail")
for ((i = 0; i < 100; i++)); do   # until its direct reclaim shows in vmstat
    [ "$(vmstat allocstall)" -gt "$stalls" ] && break
    sleep 0.05
done
sleep 1.5                         # three times alloc_wait_ms
if kill -0 "$nofail" 2>/dev/null; then sleeping=yes; else sleeping=no; fi
say "did:" "scullc3 gfp = GFP_KERNEL|__GFP_NOFAIL; dd 1 MiB into it in the background (alloc_wait_ms=500)"
say "expected:" "dd sleeps past alloc_wait_ms; the rest of the tree still answers"
say "got:" "after 1.5 s dd is still writing: $sleeping; scullc3 size $(size 3)"
check "the __GFP_NOFAIL writer is still asleep after 3x alloc_wait_ms" eq "$sleeping" yes
check "meanwhile cat proc/meminfo answers" answers "$MNT/proc/meminfo"
check "meanwhile scullc0 reads back intact" timeout 10 cmp -s <(head -c "$(size 0)" "$SRC") "$(dev 0)"
: >"$(dev 0)"   # scullc_open with O_WRONLY|O_TRUNC trims: every quantum back to the cache
t=$(now_ms)
wait "$nofail"; rc=$?; elapsed=$(($(now_ms) - t))
BG_PIDS=()
say "did:" "trimmed scullc0 (: > MNT/dev/scullc0)"
say "expected:" "the sleeping dd wakes, completes, and its data is intact; no warning"
say "got:" "dd exit $rc $elapsed ms after the trim; scullc3 size $(size 3)"
show_kmsg "$mark"
check "the __GFP_NOFAIL dd completed (exit 0)" eq "$rc" 0
check "scullc3 holds the whole 1 MiB, intact" eq "$(size 3)" 1048576
check "scullc3 reads back intact (cmp)" intact 3
check "no 'page allocation failure' for it" eq "$(warnings_since "$mark")" 0

section "6. __GFP_COLD: pages from the cold end of the per-CPU lists, counted"
set_gfp 1 'GFP_KERNEL|__GFP_COLD'
cold=$(vmstat pgalloc_cold); hot=$(vmstat pgalloc_hot)
append 1 1048576; rc=$?
cold2=$(vmstat pgalloc_cold); hot2=$(vmstat pgalloc_hot)
say "did:" "scullc1 gfp = GFP_KERNEL|__GFP_COLD; a 1 MiB write (memory is free again)"
say "expected:" "vmstat pgalloc_cold rises by the scullc slabs' pages"
say "got:" "dd exit $rc; pgalloc_cold $cold -> $cold2, pgalloc_hot $hot -> $hot2"
check "the write succeeded" eq "$rc" 0
check "pgalloc_cold rose ($cold -> $cold2)" gt "$cold2" "$cold"
check "scullc1 reads back intact" intact 1

section "7. min_free_kbytes moves the watermarks"
mfk=$(cat "$MNT/proc/sys/vm/min_free_kbytes")
before_n="$(zone_line 0 Normal)"; before_d="$(zone_line 0 DMA)"
new=$((mfk * 4))
echo "$new" >"$MNT/proc/sys/vm/min_free_kbytes"
say "did:" "min_free_kbytes $mfk -> $(cat "$MNT/proc/sys/vm/min_free_kbytes")"
say "before:" "$before_n"
say "" "$before_d"
say "after:" "$(zone_line 0 Normal)"
say "" "$(zone_line 0 DMA)"
# 2.6 setup_per_zone_pages_min: pages_min split over the lowmem zones by present pages
pages_min=$((new >> 2))
lowmem=$(($(zone 0 DMA present) + $(zone 0 Normal present)))
for z in DMA Normal; do
    tmp=$((pages_min * $(zone 0 "$z" present) / lowmem))
    want="$tmp $((tmp + tmp / 4)) $((tmp + tmp / 2))"
    got="$(zone 0 "$z" min) $(zone 0 "$z" low) $(zone 0 "$z" high)"
    say "expected:" "$z min/low/high = $want (tmp = pages_min $pages_min * present $(zone 0 "$z" present) / lowmem $lowmem)"
    check "$z watermarks are now $got" eq "$got" "$want"
done
echo "$mfk" >"$MNT/proc/sys/vm/min_free_kbytes"

# ==== machine 2: 32 MiB with a SLAB_CACHE_DMA scullc cache ===============================

echo
mount_fs --mem 32M --devs 2 --background 0 --cache-flags 'SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA'
set_wait "$WAIT_FILL"
section "8. SLAB_CACHE_DMA: the scullc cache takes its slabs from ZONE_DMA (16 MiB)"
mark=$(kmsg_mark)
fill 0; rc=$?
stored=$(size 0)
say "did:" "dd a 40 MiB file into scullc0 (cache_dma = $(cat "$MNT/sys/kernel/slab/scullc/cache_dma"))"
say "expected:" "ENOMEM below 16 MiB stored, with ZONE_DMA at its min and Normal still free"
say "got:" "dd exit $rc, $stored bytes stored; vmstat pgalloc_dma $(vmstat pgalloc_dma), pgalloc_normal $(vmstat pgalloc_normal)"
show_kmsg "$mark"
say "zoneinfo:" "$(zone_line 0 DMA)"
say "" "$(zone_line 0 Normal)"
check "the fill failed" grep -q 'Cannot allocate memory' "$WORK/dd.err"
check "it stored $stored bytes < 16 MiB" lt "$stored" $((16 << 20))
check "it stored more than 12 MiB: it failed at the zone's end, not earlier" gt "$stored" $((12 << 20))
check "DMA free ($(zone 0 DMA free)) is at its min ($(zone 0 DMA min))" le "$(zone 0 DMA free)" "$(zone 0 DMA min)"
check "Normal still has $(zone 0 Normal free) of $(zone 0 Normal present) pages free" \
    gt "$(zone 0 Normal free)" $(($(zone 0 Normal present) / 2))
check "the failure's mode has __GFP_DMA (mode:0xd1)" \
    grep -q 'page allocation failure. order:0, mode:0xd1' <(kmsg_since "$mark")
check "scullc0 reads back intact" intact 0

# ==== machine 3: 32 MiB, 40% of lowmem in dentry/inode/buffer_head caches =================

echo
mount_fs --mem 32M --devs 2 --background 40
set_wait "$WAIT_FILL"
section "9. GFP_NOIO / GFP_NOFS cannot reclaim what needs I/O or the filesystem"
bg_line() {
    printf 'dentry_cache %s slabs, inode_cache %s, buffer_head %s' "$(slab dentry_cache num_slabs)" \
        "$(slab inode_cache num_slabs)" "$(slab buffer_head num_slabs)"
}
say "boot:" "$(bg_line)"
declare -A STORED
for mode in GFP_NOIO GFP_NOFS GFP_KERNEL; do
    set_gfp 0 "$mode"
    : >"$(dev 0)"
    fill 0
    STORED[$mode]=$(size 0)
    say "$mode:" "stored ${STORED[$mode]} bytes; then $(bg_line)"
    check "scullc0's ${STORED[$mode]} bytes ($mode) read back intact" intact 0
    case "$mode" in
        GFP_NOIO) noio_bh=$(slab buffer_head num_slabs); noio_de=$(slab dentry_cache num_slabs) ;;
        GFP_NOFS) nofs_bh=$(slab buffer_head num_slabs); nofs_de=$(slab dentry_cache num_slabs) ;;
    esac
done
say "expected:" "NOIO reclaims neither (needs __GFP_IO for buffer heads, __GFP_FS for dentries and"
say "" "inodes), NOFS only buffer heads, KERNEL all: NOIO < NOFS < KERNEL"
check "GFP_NOIO (${STORED[GFP_NOIO]}) < GFP_NOFS (${STORED[GFP_NOFS]})" lt "${STORED[GFP_NOIO]}" "${STORED[GFP_NOFS]}"
check "GFP_NOFS (${STORED[GFP_NOFS]}) < GFP_KERNEL (${STORED[GFP_KERNEL]})" lt "${STORED[GFP_NOFS]}" "${STORED[GFP_KERNEL]}"
check "GFP_NOFS emptied buffer_head slabs ($noio_bh -> $nofs_bh) but not dentry_cache's ($nofs_de)" \
    both lt "$nofs_bh" "$noio_bh" eq "$nofs_de" "$noio_de"
check "GFP_KERNEL reclaimed dentry_cache ($nofs_de -> $(slab dentry_cache num_slabs) slabs)" \
    lt "$(slab dentry_cache num_slabs)" "$nofs_de"

# ==== machine 4: drop_caches ===============================================================

echo
mount_fs --mem 32M --devs 2 --background 20
section "10. drop_caches: every free slab and the background caches go back"
head -c $((4 << 20)) "$SRC" >"$(dev 0)"
: >"$(dev 0)"
before="scullc $(slab scullc active_slabs)/$(slab scullc num_slabs) active/total slabs, $(bg_line)"
free_before=$(vmstat nr_free_pages)
echo 3 >"$MNT/proc/sys/vm/drop_caches"
say "did:" "wrote 4 MiB to scullc0 and trimmed it, then echo 3 > proc/sys/vm/drop_caches"
say "expected:" "no cache keeps a free slab; dentry_cache, inode_cache, buffer_head are emptied"
say "before:" "$before"
say "after:" "scullc $(slab scullc active_slabs)/$(slab scullc num_slabs) active/total slabs, $(bg_line)"
say "" "nr_free_pages $free_before -> $(vmstat nr_free_pages), nr_slab_reclaimable $(vmstat nr_slab_reclaimable)"
check "no cache in slabinfo has a free slab left" \
    awk 'NR > 2 && $14 != $15 { bad = 1; print "    " $1 " active_slabs " $14 " num_slabs " $15 } END { exit bad }' \
    "$MNT/proc/slabinfo"
check "the background caches have no slabs left" \
    eq "$(slab dentry_cache num_slabs) $(slab inode_cache num_slabs) $(slab buffer_head num_slabs)" "0 0 0"
check "nr_free_pages rose" gt "$(vmstat nr_free_pages)" "$free_before"

# ==== machine 5: two NUMA nodes ============================================================

echo
mount_fs --mem 64M --nodes 2 --cpus 2 --devs 2 --background 0
section "11. NUMA: a full node spills to the other (numa_miss, numa_foreign, other_node)"
numastat() { awk -v k="$2" '$1 == k { print $2 }' "$MNT/sys/devices/system/node/node$1/numastat"; }
numa_line() {
    printf 'node%s numa_hit %s numa_miss %s numa_foreign %s local_node %s other_node %s' "$1" \
        "$(numastat "$1" numa_hit)" "$(numastat "$1" numa_miss)" "$(numastat "$1" numa_foreign)" \
        "$(numastat "$1" local_node)" "$(numastat "$1" other_node)"
}
miss0=$(($(numastat 0 numa_miss) + $(numastat 1 numa_miss)))
other0=$(($(numastat 0 other_node) + $(numastat 1 other_node)))
head -c $((40 << 20)) "$SRC" >"$(dev 0)" & writer=$!
wait "$writer"; rc=$?
local_node=""
for nid in 0 1; do   # the node whose cpulist holds the writer's CPU (pid % cpus)
    [[ ",$(cat "$MNT/sys/devices/system/node/node$nid/cpulist")," == *",$((writer % 2)),"* ]] && local_node=$nid
done
say "did:" "wrote 40 MiB to scullc0 from PID $writer (CPU $((writer % 2)), node $local_node); each node has 32 MiB"
say "expected:" "the local node fills first, the rest comes from the other node"
say "numastat:" "$(numa_line 0)"
say "" "$(numa_line 1)"
say "zoneinfo:" "$(zone_line 0 Normal)"
say "" "$(zone_line 1 Normal)"
miss1=$(($(numastat 0 numa_miss) + $(numastat 1 numa_miss)))
other1=$(($(numastat 0 other_node) + $(numastat 1 other_node)))
check "the write succeeded" eq "$rc" 0
check "numa_miss rose ($miss0 -> $miss1)" gt "$miss1" "$miss0"
check "other_node rose ($other0 -> $other1)" gt "$other1" "$other0"
check "the misses are on the node that is not local (node$((1 - local_node)))" \
    gt "$(numastat $((1 - local_node)) numa_miss)" 0
check "the local node's numa_foreign counts them" gt "$(numastat "$local_node" numa_foreign)" 0
check "scullc0 reads back intact" intact 0

unmount_fs
printf '\ngfp_tour: %d checks, %d passed, %d failed (%d s)\n' $((PASSES + FAILS)) "$PASSES" "$FAILS" $((SECONDS - T0))
[ "$FAILS" -eq 0 ]
