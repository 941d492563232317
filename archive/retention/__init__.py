"""Retention policies, legal holds and the disposition job that deletes expired messages.

See ``docs/adr/0005-retention-and-legal-hold.md`` for the rules and their reasons.
"""
