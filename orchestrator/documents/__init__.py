"""The YAML documents fullbars reads (intents, orders, the network description): nodes that keep
their lines, and the envelope every document carries."""
