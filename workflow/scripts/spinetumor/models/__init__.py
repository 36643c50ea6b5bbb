"""Networks, losses and model specifications (presets of the published methods)."""
