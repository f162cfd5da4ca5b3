unshare -m sh -c 'mount -t tracefs nodev /mnt && cat /mnt/events/kmem/kfree/format'
