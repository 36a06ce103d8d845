"""pytest-sanctum: a storage facade, its in-memory reference backend and conformance kit."""
