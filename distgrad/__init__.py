"""distgrad: a PyTorch-compatible training framework (placeholder until the core lands)."""
