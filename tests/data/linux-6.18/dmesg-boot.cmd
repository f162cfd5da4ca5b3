dmesg | grep -E 'Linux version|Dynamic Preempt|DMI' | sed 's/^\[[ 0-9.]*\] //'
