"""fullbars: intent-based orchestration for 5G private networks and enterprise broadband."""

__version__ = "0.1.0"
