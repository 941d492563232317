"""The access gate and the hash-chained access log."""
