"""Group monitoring and reply timeouts: per-room rollups, spikes (舆情), word clouds and
per-employee response metrics, computed incrementally from the archive and detection results."""
