"""The transactional outbox: downstream stages (the search indexer, detection) learn of new
messages from rows written in the same transaction as the messages themselves.

See docs/adr/0007-outbox.md.
"""
