"""Entry points only: the command line, the scheduler process and (later) the web app."""
