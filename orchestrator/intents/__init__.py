"""Intents: YAML documents a network engineer writes, loaded and validated against service models."""
