cat /proc/vmstat
