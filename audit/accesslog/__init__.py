"""The hash-chained access log: one row per read of chat content or admin action, its
head, its key and anchor, and its checkpoints. It sits below security (logins are
logged) and below the access gate (``audit.access``), which records through it."""
