"""Scaling groups: what they are (model), how the autoscaler decides (pure, injected clock),
and what it remembers between decisions (state, durable in PostgreSQL)."""
