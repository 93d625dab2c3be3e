"""Kafka helpers shared by RepWatch services: the embedded broker (embedded.py)."""
