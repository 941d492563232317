"""What compliance does with the archive: detectors, alerts, monitoring, handover, the access gate.

Built by later issues; imports only ``config`` and ``archive``.
"""
