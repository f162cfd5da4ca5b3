cat /proc/zoneinfo
