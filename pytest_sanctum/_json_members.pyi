"""The member check of ``pytest_sanctum.json_codec``, compiled from ``_json_members.c``."""

def members_are_json(value: object, max_depth: int, /) -> bool:
    """Whether every value inside ``value`` is exactly a dict, list, str, int, bool, None
    or finite float, nested at most ``max_depth`` dicts and lists deep (keys unchecked)."""
