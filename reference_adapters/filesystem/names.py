"""File names for namespaces, keys, streams and groups: injective, inside the root, and the
same on case-insensitive or normalising filesystems.

Names come from callers. A key may be ``..``, contain ``/``, differ from another only in
case, or be 1024 UTF-8 bytes long; none of that may reach the filesystem as such:

- ``encode_name`` keeps the bytes ``a-z 0-9 _ -`` of the name's UTF-8 form and writes
  every other byte as ``%`` and two lower-case hex digits. The result is ASCII without
  upper-case letters, dots or slashes, so it is never ``.``, ``..`` or a path, never
  starts with ``.`` (the adapter's own temporary files do), and a filesystem that folds
  case or normalises Unicode cannot merge two results. Escaping byte by byte is a prefix
  code, so distinct names give distinct results.
- A result longer than ``MAX_PLAIN`` bytes (a file name may have 255) is cut to at most
  ``HASHED_HEAD`` bytes at an escape boundary and followed by ``~`` and the SHA-256 of
  the name's UTF-8 form. ``~`` never occurs in a plain result, so a hashed name never
  equals a plain one, and two hashed names are equal only when the names' SHA-256 are.
  Object files also store their exact key, and a read checks it.
- ``encode_namespace``: namespace names are ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}`` (the
  facade's rule), so the name in lower case followed by ``~`` and a hex mask of its
  upper-case positions is at most 161 bytes, decodes back (``reset`` matches namespace
  prefixes on it) and is the same under case folding.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Final

from pytest_sanctum.errors import InvalidRequestError

MAX_PLAIN: Final = 200
"""Longest plain encoded name; longer ones are hashed. Leaves room for the adapter's
prefixes (``i-``, ``g-``) under the usual 255-byte ``NAME_MAX``."""

HASHED_HEAD: Final = 120
"""Longest readable head kept before ``~`` and the hash of a hashed name."""

_KEPT: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
_BYTE_NAMES: Final = tuple(chr(b) if b in _KEPT else f"%{b:02x}" for b in range(256))
_ESCAPE: Final = re.compile("%([0-9a-f]{2})")
_NAMESPACE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def utf8(name: str, namespace: str, what: str) -> bytes:
    """The UTF-8 form of ``name``; a lone surrogate (which the facade never passes) is an
    ``InvalidRequestError``."""
    try:
        return name.encode()
    except UnicodeEncodeError as error:
        raise InvalidRequestError(
            f"the filesystem adapter stores UTF-8 names; {what} {name!r} has none ({error.reason})",
            namespace=namespace,
            key=name,
        ) from None


def encode_name(raw: bytes) -> str:
    """The file name of a key, stream, group or idempotency key given as UTF-8 bytes."""
    plain = "".join([_BYTE_NAMES[b] for b in raw])
    if len(plain) <= MAX_PLAIN:
        return plain
    head = plain[:HASHED_HEAD]
    cut = head.rfind("%", len(head) - 2)  # never split an escape
    if cut >= 0:
        head = head[:cut]
    return f"{head}~{hashlib.sha256(raw).hexdigest()}"


@lru_cache(maxsize=4096)
def _key_name(key: str) -> str:
    return encode_name(key.encode())


def key_file_name(key: str, namespace: str) -> str:
    """The file name of an object's key: ``encode_name`` of its UTF-8 form.

    Cached: every read and write of an object needs it, and an application reuses its
    keys. A key without a UTF-8 form is an ``InvalidRequestError`` (``utf8``).
    """
    try:
        return _key_name(key)
    except UnicodeEncodeError:
        return encode_name(utf8(key, namespace, "key"))


def decode_name(encoded: str) -> str | None:
    """The name ``encode_name`` encoded, or ``None`` for a hashed name (read it from the file)."""
    if "~" in encoded:
        return None
    raw = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), encoded).encode("latin-1")
    return raw.decode()


@lru_cache(maxsize=4096)
def encode_namespace(namespace: str) -> str:
    """The directory name of a namespace; anything else than a namespace name is refused.

    Cached: an application uses few namespaces, and every operation needs its directory."""
    if _NAMESPACE.fullmatch(namespace) is None:
        raise InvalidRequestError(
            f"namespace must match {_NAMESPACE.pattern}, got {namespace!r}",
            argument="namespace",
            namespace=namespace,
        )
    mask = sum(1 << i for i, char in enumerate(namespace) if char.isupper())
    lower = namespace.lower()
    return f"{lower}~{mask:x}" if mask else lower


def decode_namespace(encoded: str) -> str | None:
    """The namespace of a directory name, or ``None`` for a name that is not one."""
    lower, _, mask_text = encoded.partition("~")
    try:
        mask = int(mask_text, 16) if mask_text else 0
    except ValueError:
        return None
    namespace = "".join(c.upper() if mask >> i & 1 else c for i, c in enumerate(lower))
    if _NAMESPACE.fullmatch(namespace) is None or encode_namespace(namespace) != encoded:
        return None
    return namespace
