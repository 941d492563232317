"""The simulated WeCom company: its staff, customers, chats and media, deterministic from a seed."""
