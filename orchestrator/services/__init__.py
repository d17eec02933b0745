"""Intent types: one service model, one small module, templates per device kind."""
