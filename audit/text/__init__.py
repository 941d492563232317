"""Text normalisation shared by search (index and query time) and the detectors."""
