"""Reference adapters: the in-memory backend that defines the semantics."""
