"""Entry points only: the command line, the scheduler process and the web app (JSON API, console)."""
