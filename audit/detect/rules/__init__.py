"""Lexicon rule tables: in-memory rule sets, their database tables, CSV/Excel import and export."""
