"""sources.static."""
