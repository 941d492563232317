"""The corp's organisation directory (departments and members).

The archive itself only knows userids; retention by department needs to know who belongs
where. The directory is synced from WeCom (``sync``, ADR 0020) and keeps members that left
as inactive rows, never deleting them; its changes are recorded with their dates.
"""
