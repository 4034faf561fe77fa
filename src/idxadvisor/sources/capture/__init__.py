"""sources.capture."""
