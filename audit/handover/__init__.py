"""Handover reviews for departed staff (离职继承) and on-the-job transfers (ADR 0016)."""
