"""Resources: the store (SQLAlchemy) and the pools intents draw from."""
