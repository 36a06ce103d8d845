"""pytest plugin entry point of pytest-sanctum (registered under ``pytest11``)."""
