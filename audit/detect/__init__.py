"""Detectors: what a message contains or does that compliance cares about."""
