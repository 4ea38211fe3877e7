"""Benchmarks. Nothing here is imported by the app: run the scripts directly."""
