"""Benchmarks for idxadvisor: data generation and speed measurements (never run as tests)."""
