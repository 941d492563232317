"""The corp's organisation directory (departments and members).

The archive itself only knows userids; retention by department needs to know who belongs
where. The directory is synced from a feed (the simulated company today, WeCom's contact
API later) and keeps members that left as inactive rows, never deleting them.
"""
