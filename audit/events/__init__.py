"""Contact-change events from WeCom's customer-contact callback (spec §8.8)."""
