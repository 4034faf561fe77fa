"""idxadvisor: index advice for Django projects on PostgreSQL."""

__version__ = "0.1.0"
