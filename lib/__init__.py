"""tllab: the thin library behind the transfer-learning notebooks (no side effects on import)."""
