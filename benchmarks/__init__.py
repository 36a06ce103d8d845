"""Performance benchmarks of the facade against the tools users would pick instead."""
