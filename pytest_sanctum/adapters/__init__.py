"""Adapter interface and adapter discovery."""
