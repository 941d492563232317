"""Search: the officers' query language, the ``SearchBackend`` interface with its embedded
SQLite and Elasticsearch implementations, and the indexer that feeds them from the outbox.

Imports only ``config``, ``archive`` and ``audit``. Start at ``search.backend`` (the interface),
``search.query`` (the language) and ``search.matching`` (the reference semantics).
"""
