"""Inputs of the differential tier: the whole documented domain, weighted towards its edges.

The facade accepts keys, stream and group names that are non-empty printable strings of at
most 1024 UTF-8 bytes, namespaces matching ``[A-Za-z0-9][A-Za-z0-9._-]{0,127}``, prefixes
that are printable (or empty), payloads of any bytes, RFC 9110 media types of at most 255
characters, and limits from 0 to 10000 (``docs/errors.md``, ``docs/configuration.md``). A
lossy adapter hides in the corners of that domain, so the strategies here draw mostly from
the corners:

- **Families of colliding names.** Each family is one base name and its variants under
  the mappings a backend gets wrong: case folding, Unicode normalisation (NFC, NFD, NFKC),
  punctuation that one escaping scheme confuses with another, trailing blanks, a
  prefix of the name, truncation at the byte limit. Two names of one family are distinct
  keys; an adapter mapping them to one stored name is caught when both are used.
- **Characters from every plane a key may hold** (planes 0 to 3; the others hold only
  unassigned, format or private-use code points, which are not printable and are refused)
  and characters special to SQL (``' % _ \\ ;``), paths (``/ .. \\``), URLs (``? # % +``)
  and Redis key patterns (``* ? [ ] ^ { }``).
- **Lengths at the limits**: names of 1023 and 1024 UTF-8 bytes made of 1-, 2-, 3- and
  4-byte characters, differing only in their last character.
- **Payload sizes around backend thresholds** (255/256, 2 KiB, 8 KiB, 64 KiB) and numbers
  at type boundaries (TTLs below one millisecond, limits 0, 1 and 10000).

Every value is drawn with ``sampled_from`` or small integers, so a failure shrinks to the
simplest name of the family that shows it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from hypothesis import strategies as st

MAX_NAME_BYTES = 1024
"""The longest key, stream or group name (``pytest_sanctum.validation.MAX_KEY_BYTES``)."""

BASES: tuple[str, ...] = (
    "Ab c.d_e/f%g*h?[i]{j}'",
    "\u212bngstro\u0308m ß",
    "a",
    "Key",
    "café",
    "ﬁle",
    "x/y",
    "50%_off",
    "a*b?[c]",
    "{tag}z",
    "o'k;--",
    "Ｗide",
    "日本",
    "𝔘𝔫𝔦",
    "😀",
    "\U0002a6d6",
    "\U00030000",
    "ǅ-ﬃ.Ｗ😀",
)
"""Base names, one per family: two that many lossy mappings change at once (case,
punctuation, pattern characters, a blank; an Angstrom sign NFC replaces, a decomposed
umlaut, a sharp s case mappings expand), ASCII, a precomposed accent, a ligature NFKC expands, SQL
``LIKE`` wildcards, Redis glob and hash-tag characters, a quote and comment, fullwidth
letters, CJK, mathematical letters (plane 1), an emoji (plane 1), CJK extensions of
planes 2 and 3, and a titlecase digraph, a ligature, a fullwidth letter and an emoji
together."""


def _at_limit(name: str, tail: str) -> str:
    """``name`` padded with its own last character to exactly ``MAX_NAME_BYTES`` bytes when
    that is possible, with ``tail`` last (the byte count may fall short by under 4)."""
    fill = name[-1]
    text = name
    width = len(fill.encode("utf-8"))
    room = MAX_NAME_BYTES - len(text.encode("utf-8")) - len(tail.encode("utf-8"))
    text += fill * max(0, room // width)
    return text + tail


def _swap_punctuation(name: str) -> str:
    table = str.maketrans({"/": "_", "_": "-", "-": ".", ".": ":", "%": "_", "'": '"', " ": "+"})
    swapped = name.translate(table)
    return swapped if swapped != name else name + "-"


VARIANTS: dict[str, Callable[[str], str]] = {
    "same": lambda name: name,
    "upper": str.upper,
    "lower": str.lower,
    "swapcase": str.swapcase,
    "nfd": lambda name: unicodedata.normalize("NFD", name),
    "nfkc": lambda name: unicodedata.normalize("NFKC", name),
    "punctuation": _swap_punctuation,
    "dot-suffix": lambda name: name + ".",
    "slash-suffix": lambda name: name + "/",
    "space-suffix": lambda name: name + " ",
    "space-prefix": lambda name: " " + name,
    "longer": lambda name: name + "x",
    "astral-suffix": lambda name: name + "😀",
    "bmp-high-suffix": lambda name: name + "！",
    "limit-a": lambda name: _at_limit(name, "a"),
    "limit-b": lambda name: _at_limit(name, "b"),
    "limit-minus-one": lambda name: _at_limit(name, "")[:-1] + "a",
}
"""The mappings a lossy adapter confuses, applied to a base name to make its family."""


def family(base: str) -> tuple[str, ...]:
    """The distinct valid names of one family."""
    names: list[str] = []
    for make in VARIANTS.values():
        name = make(base)
        valid = name.isprintable() and 0 < len(name.encode("utf-8")) <= MAX_NAME_BYTES
        if valid and name not in names:
            names.append(name)
    return tuple(names)


FAMILIES: tuple[tuple[str, ...], ...] = tuple(family(base) for base in BASES)
AT_LIMIT: frozenset[str] = frozenset(
    name
    for base in BASES
    for variant, make in VARIANTS.items()
    if variant.startswith("limit-")
    for name in [make(base)]
)
"""The names padded to the byte limit (the ``limit-*`` variants), which a backend with a
shorter key limit refuses."""
NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for names in FAMILIES for name in names))
"""Every name of every family, base names first within a family."""

INVALID_NAMES: tuple[str, ...] = (
    "",
    "a\x00b",
    "tab\there",
    "\u200b",
    "\U000e0041",
    "\U000f0000",
    "\U0010fffd",
    "é" * 513,
    "a" * 1025,
)
"""Names the facade refuses with ``InvalidRequestError``: empty, control and format
characters (planes 0 and 14), private use (planes 15 and 16), over the byte limit by one."""


def names(families: int = 3) -> st.SearchStrategy[str]:
    """A name from a few families drawn once per example (``st.shared``), half the time the
    family's base name: names of one example meet often, as equal names and as names a
    lossy mapping confuses."""
    chosen = st.shared(
        st.lists(st.sampled_from(range(len(FAMILIES))), min_size=1, max_size=families, unique=True),
        key="sanctum-differential-families",
    )
    return chosen.flatmap(
        lambda picked: st.one_of(
            st.sampled_from([FAMILIES[i][0] for i in picked]),
            st.sampled_from([n for i in picked for n in FAMILIES[i]]),
        )
    )


PAIRS: tuple[tuple[str, str], ...] = tuple(
    (names[0], other) for names in FAMILIES for other in names[1:]
)
"""A base name with each other name of its family."""


def paired_names() -> st.SearchStrategy[str]:
    """Either name of one pair drawn per example: for names that only a collision shows
    (a consumer group's name is not in its state), so the two meet in most examples."""
    pair = st.shared(st.sampled_from(PAIRS), key="sanctum-differential-pair")
    return pair.flatmap(st.sampled_from)


def prefixes() -> st.SearchStrategy[str]:
    """A listing prefix: empty, a special character, or a prefix of a family's name."""
    specials = st.sampled_from(["", "%", "_", "*", "[", "\\", "/", "a", "K", "k", "x/", "café"])
    return st.one_of(specials, names().map(lambda name: name[: max(1, len(name) // 2)]))


PAYLOAD_SIZES: tuple[int, ...] = (0, 1, 255, 256, 2048, 8192, 65535, 65536, 65537)
"""Payload sizes around common backend thresholds (a byte, inline and page sizes, 64 KiB)."""


def payloads() -> st.SearchStrategy[bytes]:
    """Bytes: small ones of any value, or a size from ``PAYLOAD_SIZES`` with varying content."""
    sized = st.tuples(st.sampled_from(PAYLOAD_SIZES), st.integers(0, 255)).map(
        lambda pair: (
            bytes((pair[1] + i) % 256 for i in range(min(pair[0], 16)))
            + bytes([pair[1]]) * max(0, pair[0] - 16)
        )
    )
    return st.one_of(st.binary(max_size=8), sized)


def records() -> st.SearchStrategy[dict[str, object]]:
    """A JSON object with values at type edges: big integers, floats, text from every plane."""
    leaf = st.one_of(
        st.sampled_from([0, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, -(2**63) - 1, 10**30]),
        st.sampled_from([0.1, -0.0, 1e308, 5e-324, 1.5]),
        st.sampled_from(["", "'; DROP TABLE t;--", "\\u0000", "😀", "\U00030000", "e\u0301"]),
        st.booleans(),
        st.none(),
    )
    return st.dictionaries(
        st.sampled_from(["k", "K", "é", "e\u0301", "😀", "$", "a.b"]), leaf, max_size=3
    )


CONTENT_TYPES: tuple[str | None, ...] = (
    None,
    "text/plain",
    "Text/Plain",
    "text/plain; charset=utf-8",
    "text/plain;charset=UTF-8",
    'application/x; p="a \\" b"',
    "application/" + "x" * 243,
)
"""Content types: none, case and parameter variants, a quoted string, the 255-character limit."""

TTLS_MS: tuple[float, ...] = (0.5, 1.0, 1.5, 999.999, 1000.0, 2500.0, 5000.0)
"""Cache TTLs: under one millisecond, fractions, up to the 5 s maximum."""

LIMITS: tuple[int, ...] = (0, 1, 2, 3, 7, 10000)
"""List and read limits: zero, one, small, the facade's maximum."""

NAMESPACE_SUFFIXES: tuple[str, ...] = ("", "x", "X", "x.", "x_", "x-", "xx", "-" + "n" * 40)
"""Suffixes to the example's namespace: several namespaces, colliding under case folding,
punctuation mapping and prefixes. ``namespaces`` adds three long ones."""

NAMESPACE_LENGTHS: tuple[int, ...] = (100, 127, 128)
"""Lengths of the long namespaces of an example (128 is the limit): equal up to 100
characters, so truncation at any length below merges them."""


def namespaces(base: str) -> list[str]:
    """The namespaces of an example whose own namespace is ``base``."""
    found = [base + suffix for suffix in NAMESPACE_SUFFIXES]
    return found + [(base + "-" + "n" * 128)[:length] for length in NAMESPACE_LENGTHS]


def namespace_index() -> st.SearchStrategy[int]:
    """Which namespace of ``namespaces`` a step uses: the first one half the time."""
    count = len(NAMESPACE_SUFFIXES) + len(NAMESPACE_LENGTHS)
    return st.one_of(st.just(0), st.integers(0, count - 1))
