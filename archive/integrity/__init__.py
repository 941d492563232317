"""Tamper evidence: the per-corp hash chain over stored messages (``chain``), its
canonical record encoding (``canonical``), checkpoints in the database and an
append-only file (``checkpoints``), ``verify``, and exports with a manifest of hashes
(``export``). Decisions: docs/adr/0004-integrity-chain.md."""
