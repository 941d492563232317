"""Sentiment and complaint/threat intent of chat messages (spaCy, trained offline; ADR 0011).

Use ``audit.nlp.sentiment``: ``load_model().predict(texts)``; train with `wecom-audit nlp train`.
"""
