cat /proc/meminfo
