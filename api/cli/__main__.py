"""``python -m api.cli``: the ``wecom-audit`` command (the tests run it this way)."""

from api.cli import main

main()
