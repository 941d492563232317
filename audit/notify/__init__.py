"""Notifications about alerts: WeCom group robot, signed webhook, e-mail; retries and digests."""
