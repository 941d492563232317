"""Settings, database engines and logging: the only package every other one may import."""
