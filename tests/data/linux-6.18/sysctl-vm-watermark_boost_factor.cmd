cat /proc/sys/vm/watermark_boost_factor
