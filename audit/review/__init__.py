"""The review workflow: states, assignment, notes, tags, audit trail, sampling, simulation."""
