"""The Elasticsearch search backend (the scale path): versioned mapping, time partitions, alias flips."""

from search.elasticsearch.backend import ElasticsearchBackend

__all__ = ["ElasticsearchBackend"]
