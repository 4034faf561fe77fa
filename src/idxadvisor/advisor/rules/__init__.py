"""advisor.rules."""
