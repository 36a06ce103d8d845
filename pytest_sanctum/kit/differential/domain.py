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
- **A cluster per example.** A collision shows only when both names of it are used in
  one example, on the same store, namespace and stream. So each example also draws one
  base name and one to three *kinds* of sibling (``SIBLINGS``), and most names of the
  example come from that small cluster: its names meet again and again, as keys, stream
  names, group names and cache keys, and as namespaces (``NAMESPACE_COLLISIONS``).
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
LONG_NAME_BYTES = MAX_NAME_BYTES // 2
"""A name longer than this many UTF-8 bytes counts as one at the byte limit."""


def at_limit(name: str) -> bool:
    """Whether ``name`` is one of the names padded towards the byte limit (the ``limit-*``
    variants and the truncation siblings), which a backend with a shorter key limit refuses."""
    return len(name.encode("utf-8")) > LONG_NAME_BYTES


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


_SEPARATORS_ROTATED = str.maketrans("/._-:", "._-:/")
_SEPARATORS_TO_UNDERSCORE = str.maketrans("/.-:", "____")


def _normal_forms(name: str) -> tuple[str, ...]:
    return tuple(unicodedata.normalize(form, name) for form in ("NFC", "NFD"))


def _compatible_forms(name: str) -> tuple[str, ...]:
    return tuple(unicodedata.normalize(form, name) for form in ("NFKC", "NFKD"))


SIBLINGS: dict[str, Callable[[str], tuple[str, ...]]] = {
    "case": lambda name: (name.swapcase(), name.upper(), name.lower()),
    "normal-form": _normal_forms,
    "compatibility": _compatible_forms,
    "blank": lambda name: (name + " ", " " + name),
    "punctuation": lambda name: (
        _swap_punctuation(name),
        name.translate(_SEPARATORS_ROTATED),
        name.translate(_SEPARATORS_TO_UNDERSCORE),
    ),
    "pattern": lambda name: (name + "*", name + "%", name.replace("_", "%")),
    "truncation": lambda name: (_at_limit(name, "a"), _at_limit(name, "b")),
    "order": lambda name: (name + "！", name + "😀", name + "B", name + "a"),
}
"""Kinds of sibling of a name: distinct valid names a lossy mapping of that kind stores
under one name with it (case folding; NFC or NFD; NFKC or NFKD; stripping blanks;
collapsing punctuation; dropping or matching pattern characters; truncation, where the
two padded siblings differ only in their last character), or that an order other than
the code points' (UTF-16, case-insensitive) sorts the other way round."""


def siblings(name: str, kind: str) -> tuple[str, ...]:
    """The distinct valid siblings of ``name`` of one kind (none when the kind cannot
    change ``name``, e.g. the case of a CJK name)."""
    found = [
        sibling
        for sibling in SIBLINGS[kind](name)
        if sibling != name
        and sibling.isprintable()
        and 0 < len(sibling.encode("utf-8")) <= MAX_NAME_BYTES
    ]
    return tuple(dict.fromkeys(found))


def _tail_swapped(name: str) -> tuple[str, ...]:
    if not at_limit(name):
        return ()
    return (name[:-1] + ("b" if name[-1] == "a" else "a"),)


COLLIDING_KINDS = ("case", "normal-form", "compatibility", "blank", "punctuation", "pattern")
"""The sibling kinds a lossy mapping stores under one name (``order`` is not one)."""


def collisions(name: str) -> tuple[str, ...]:
    """Every distinct valid name a lossy mapping confuses with ``name``: its siblings of
    the colliding kinds and, for a name at the byte limit, the name with another last
    character (the same under any truncation short of the limit). The tier reads them back
    after ``name`` is written: a name never written must read as absent."""
    found = [sibling for kind in COLLIDING_KINDS for sibling in siblings(name, kind)]
    found += [n for n in _tail_swapped(name) if n != name and n.isprintable()]
    return tuple(dict.fromkeys(found))


def order_probes(name: str) -> tuple[str, ...]:
    """Names that sort on the other side of ``name`` in UTF-16 order than in code-point
    order (a BMP character above U+E000 against an astral one at the same place), and in
    case-insensitive order than in code-point order: as ``start_after`` they show a
    listing kept in another order than the code points'."""
    found: list[str] = []
    for i, char in enumerate(name):
        if ord(char) >= 0xE000:
            found.append(name[:i] + ("\uff01" if ord(char) > 0xFFFF else "\U0001f600"))
            break
    for i, char in enumerate(name):
        if char.isupper() and len(name) > i + 1:
            found.append(name[:i] + char.swapcase())
            break
        if char.islower():
            found.append(name[:i] + char.upper() + "~")
            break
    return tuple(n for n in found if n.isprintable() and len(n.encode("utf-8")) <= MAX_NAME_BYTES)


def _cluster(base: str, kinds: list[str]) -> tuple[str, ...]:
    chosen = ["order", *kinds]
    found = [base, _at_limit(base, "a"), *(s for kind in chosen for s in siblings(base, kind))]
    return tuple(dict.fromkeys(found))


def _clusters_of(base: str) -> st.SearchStrategy[tuple[str, ...]]:
    kinds = [kind for kind in (*COLLIDING_KINDS, "truncation") if siblings(base, kind)]
    return st.lists(st.sampled_from(kinds), min_size=1, max_size=2, unique=True).map(
        lambda chosen: _cluster(base, chosen)
    )


CLUSTER = st.shared(
    st.sampled_from(BASES).flatmap(_clusters_of), key="sanctum-differential-cluster"
)
"""The example's cluster: a base name, its siblings that sort differently in UTF-16 and
case-insensitive orders, and its siblings of one or two colliding kinds (truncation
among them: two names at the byte limit); the base first, then the base padded to the
byte limit."""


def cluster_names() -> st.SearchStrategy[str]:
    """A name of the example's cluster (``CLUSTER``)."""
    return CLUSTER.flatmap(st.sampled_from)


def names(families: int = 3) -> st.SearchStrategy[str]:
    """The example's base name one time in five, the base padded to the byte limit one
    time in five, a name of its cluster two times in five, else a name of a few families
    drawn once per example, half the time the family's base name: names of one example
    meet often, as equal names (a key written twice, read by another instance in between)
    and as names a lossy mapping confuses."""
    chosen = st.shared(
        st.lists(st.sampled_from(range(len(FAMILIES))), min_size=1, max_size=families, unique=True),
        key="sanctum-differential-families",
    )
    from_families = chosen.flatmap(
        lambda picked: st.one_of(
            st.sampled_from([FAMILIES[i][0] for i in picked]),
            st.sampled_from([n for i in picked for n in FAMILIES[i]]),
        )
    )
    return st.one_of(
        CLUSTER.map(lambda cluster: cluster[0]),
        CLUSTER.map(lambda cluster: cluster[1]),
        cluster_names(),
        cluster_names(),
        from_families,
    )


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


NAMESPACE_COLLISIONS: tuple[tuple[int, ...], ...] = (
    (1, 2),
    (3, 4, 5),
    (1, 3, 4, 5),
    (0, 1, 6),
    (8, 9, 10),
    (9, 10),
)
"""Indexes into ``namespaces`` of namespaces a lossy mapping merges: case folding,
punctuation collapsing, trailing punctuation stripped, prefixes, truncation below 100
and below 128 characters."""


def namespace_index() -> st.SearchStrategy[int]:
    """Which namespace of ``namespaces`` a step uses: the first half the time (so keys
    meet in one listing), else one of the example's group of colliding namespaces
    (``NAMESPACE_COLLISIONS``) or any."""
    count = len(NAMESPACE_SUFFIXES) + len(NAMESPACE_LENGTHS)
    group = st.shared(
        st.sampled_from(NAMESPACE_COLLISIONS), key="sanctum-differential-namespace-group"
    )
    return st.one_of(
        st.just(0), st.just(0), group.flatmap(st.sampled_from), st.integers(0, count - 1)
    )
