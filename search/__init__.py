"""The SearchBackend interface and its Elasticsearch and embedded SQLite implementations.

Built by a later issue; imports only ``config``, ``archive`` and ``audit``.
"""
