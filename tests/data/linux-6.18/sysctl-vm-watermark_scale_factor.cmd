cat /proc/sys/vm/watermark_scale_factor
