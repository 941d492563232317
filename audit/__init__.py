"""What compliance does with the archive: detectors, alerts, monitoring, handover, the access gate.

Imports only ``config`` and ``archive`` from outside. Inside, subpackages import one way,
lowest first (docs/adr/0023-audit-layers.md, enforced by ``tests/test_architecture.py``):
errors ← text ← nlp ← accesslog ← security ← detect ← access ← notify ← alerts ← review ←
stage ← events ← monitor ← handover; ``audit.schema`` gathers every model above them all.
Every error is an ``audit.errors.AuditError``.
"""
