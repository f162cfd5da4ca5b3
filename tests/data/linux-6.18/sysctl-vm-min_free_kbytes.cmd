cat /proc/sys/vm/min_free_kbytes
