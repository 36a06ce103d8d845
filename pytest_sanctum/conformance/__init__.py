"""The conformance suite: golden and property tests every adapter must pass."""
