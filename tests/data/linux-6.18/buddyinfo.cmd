cat /proc/buddyinfo
