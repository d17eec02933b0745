"""Rendering: Jinja2 templates per device kind, compiled once."""
