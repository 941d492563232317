"""Alerts: hits and behaviours become de-duplicated, explained, routed alerts."""
