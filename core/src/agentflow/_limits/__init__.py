"""Rate limits, concurrency caps and circuit breakers, made per provider and model on first use."""
