"""The binding to WeCom's Finance SDK C library, run in an isolated worker process."""
