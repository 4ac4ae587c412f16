"""Test support: fixtures and builders shared by the test suite and benchmarks."""
