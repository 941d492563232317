"""The access gate: the one door to chat content (scope, purpose, protected people),
which records every read in the access log (``audit.accesslog``)."""
