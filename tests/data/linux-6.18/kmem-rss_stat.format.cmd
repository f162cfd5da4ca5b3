unshare -m sh -c 'mount -t tracefs nodev /mnt && cat /mnt/events/kmem/rss_stat/format'
