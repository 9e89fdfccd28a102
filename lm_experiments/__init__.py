"""lm_experiments package."""
