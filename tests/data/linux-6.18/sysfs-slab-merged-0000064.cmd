cd /sys/kernel/slab/:0000064 && for f in *; do printf '%s %s: %s\n' "$(stat -c %a $f)" "$f" "$(cat $f 2>&1)"; done
