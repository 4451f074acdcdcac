"""Benchmarks and sample data; not part of the test suite (`python -m bench`)."""
