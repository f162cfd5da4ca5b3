awk '/unpurged/ && ++n > 16 {next} {print}' /proc/vmallocinfo
