unshare -m sh -c 'mount -t tracefs nodev /mnt && cat /mnt/events/oom/mark_victim/format'
