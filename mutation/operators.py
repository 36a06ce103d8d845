"""Every single-point mutant of a Python source file, by the classic mutation operators.

A ``Mutation`` replaces one span of the source text, so the rest of the file keeps its
exact formatting and the change reads as a one-line diff. Operators:

- ``compare``: ``==``/``!=``, ``is``/``is not``, ``in``/``not in`` swap; ``<`` becomes
  ``<=`` (off by one) and ``>=`` (negated), and likewise for ``<=``, ``>``, ``>=``.
- ``boolean``: ``and``/``or`` swap; ``not-removed``: ``not x`` becomes ``x``.
- ``negate-condition``: the test of an ``if``, ``while`` or conditional expression that is
  not already a comparison or a ``not`` becomes ``not (test)``.
- ``arithmetic``: ``+``/``-``, ``*``/``/``, ``//``/``%`` to ``*``/``/``, ``**`` to ``*``,
  shifts and bitwise operators swapped, in expressions and augmented assignments.
- ``constant``: an integer or float ``n`` becomes ``n + 1`` and ``n - 1`` (off by one),
  ``True``/``False`` swap, a string ``s`` becomes ``"XX" s "XX"``.
- ``statement-removed``: a call statement, ``raise``, ``del`` or an assignment to an
  attribute or item becomes ``pass``; ``break-continue``: ``break`` becomes ``continue``.
- ``return-none``: ``return value`` becomes ``return None``.
- ``keyword-removed``: one keyword argument of a call is dropped.
- ``sql-*``, inside strings holding SQL: comparison operators shifted or negated
  (``sql-compare``), ``AND`` to ``OR`` (``sql-logic``), ``max``/``min`` swap
  (``sql-function``), ``ORDER BY x`` to ``ORDER BY x DESC`` (``sql-order``), integer
  literals off by one (``sql-literal``), ``OR REPLACE`` to ``OR IGNORE`` (``sql-conflict``).

Never mutated, because no behaviour depends on them: docstrings and other bare strings,
annotations, decorators, imports, ``__all__``, ``__slots__``, ``TypeVar`` names,
``__repr__`` methods, f-strings, and the message text of exceptions (the first argument
of a call to a name ending in ``Error``). A mutant is identified by a stable ``id`` (a
hash of its function, operator, original and new text), so verdicts kept about it
survive edits elsewhere in the file.
"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Mutation", "mutations"]

_SHOWN_MAX = 160
"""Longest line shown for a mutant before it is cut around the change."""


@dataclass(frozen=True, slots=True)
class Mutation:
    """One mutant: ``source[start:end]`` replaced with ``replacement`` (character offsets)."""

    id: str
    operator: str
    function: str
    line: int
    start: int
    end: int
    replacement: str
    original: str
    """The changed source line(s) as they are, whitespace collapsed."""
    mutated: str
    """The same line(s) with the change applied."""

    def apply(self, source: str) -> str:
        """The mutant's full source."""
        return source[: self.start] + self.replacement + source[self.end :]


_COMPARE_SWAPS: dict[type[ast.cmpop], tuple[str, ...]] = {
    ast.Eq: ("!=",),
    ast.NotEq: ("==",),
    ast.Is: ("is not",),
    ast.IsNot: ("is",),
    ast.In: ("not in",),
    ast.NotIn: ("in",),
    ast.Lt: ("<=", ">="),
    ast.LtE: ("<", ">"),
    ast.Gt: (">=", "<="),
    ast.GtE: (">", "<"),
}

_ARITHMETIC_SWAPS: dict[str, str] = {
    "+": "-",
    "-": "+",
    "*": "/",
    "/": "*",
    "//": "*",
    "%": "/",
    "**": "*",
    "<<": ">>",
    ">>": "<<",
    "&": "|",
    "|": "&",
    "^": "&",
}

_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b")
"""A string constant holding one of these statements is mutated as SQL."""

_SQL_COMPARE_SWAPS = {"=": "!=", "!=": "=", "<>": "=", "<": "<=", "<=": "<", ">": ">=", ">=": ">"}

_SQL_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sql-compare", re.compile(r"(?<![<>!=])(<=|>=|!=|<>|=|<|>)(?![<>=])")),
    ("sql-logic", re.compile(r"\b(AND)\b")),
    ("sql-function", re.compile(r"\b(max|min)(?=\()")),
    ("sql-order", re.compile(r"\bORDER BY \w+()(?! DESC| ASC)")),
    ("sql-literal", re.compile(r"(?<![\w.?])(\d+)(?![\w.])")),
    ("sql-conflict", re.compile(r"\bOR (REPLACE)\b")),
)
"""Each rule's first group is the text the SQL mutation replaces."""

_SQL_SET_CLAUSE = re.compile(r"\bSET\b.*?(?=\bWHERE\b|$)", re.DOTALL)


def _sql_replacements(operator: str, text: str) -> tuple[str, ...]:
    if operator == "sql-compare":
        return (_SQL_COMPARE_SWAPS[text],)
    if operator == "sql-logic":
        return ("OR",)
    if operator == "sql-function":
        return ("min" if text == "max" else "max",)
    if operator == "sql-order":
        return (" DESC",)
    if operator == "sql-literal":
        return (str(int(text) + 1), str(int(text) - 1))
    return ("IGNORE",)


class _Source:
    """The file's text with conversions from AST positions (UTF-8 byte columns) to offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.line_starts = [0]
        for line in self.lines:
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        self.token_starts = [self.token_offset(token.start) for token in self.tokens]

    def offset(self, line: int, byte_col: int) -> int:
        prefix = self.lines[line - 1].encode("utf-8")[:byte_col]
        return self.line_starts[line - 1] + len(prefix.decode("utf-8"))

    def token_offset(self, position: tuple[int, int]) -> int:
        line, col = position  # tokenize columns count characters
        return self.line_starts[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end

    def line_of(self, offset: int) -> int:
        return bisect_right(self.line_starts, offset)

    def tokens_between(self, start: int, end: int) -> Iterator[tokenize.TokenInfo]:
        for index in range(bisect_left(self.token_starts, start), len(self.tokens)):
            token = self.tokens[index]
            if self.token_offset(token.end) > end:
                return
            yield token


@dataclass(frozen=True, slots=True)
class _Change:
    operator: str
    function: str
    start: int
    end: int
    replacement: str


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _shown(before: str, after: str) -> tuple[str, str]:
    """Both texts whitespace-collapsed, cut to a window around where they differ."""
    before, after = _collapse(before), _collapse(after)
    if max(len(before), len(after)) <= _SHOWN_MAX:
        return before, after
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    cut = max(0, prefix - 50)
    before, after = before[cut:], after[cut:]
    lead = "…" if cut else ""
    tail_b = "…" if len(before) > _SHOWN_MAX - 20 else ""
    tail_a = "…" if len(after) > _SHOWN_MAX - 20 else ""
    return lead + before[: _SHOWN_MAX - 20] + tail_b, lead + after[: _SHOWN_MAX - 20] + tail_a


def _is_bare_string(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _assigns_names(node: ast.stmt, names: set[str]) -> bool:
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return any(isinstance(t, ast.Name) and t.id in names for t in targets)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")


class _Finder:
    """Walks the tree once and records every change the operators make."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.changes: list[_Change] = []
        self.scope: list[str] = []

    # -- recording ------------------------------------------------------------------------

    def add(self, operator: str, start: int, end: int, replacement: str) -> None:
        function = ".".join(self.scope) or "<module>"
        self.changes.append(_Change(operator, function, start, end, replacement))

    def text(self, node: ast.AST) -> str:
        start, end = self.source.span(node)
        return self.source.text[start:end]

    def operator_token(
        self, left: ast.AST, right: ast.AST, words: tuple[str, ...]
    ) -> tuple[int, int]:
        """The span of the operator written between ``left`` and ``right``."""
        start, end = self.source.span(left)[1], self.source.span(right)[0]
        found = [
            t
            for t in self.source.tokens_between(start, end)
            if t.type in (tokenize.OP, tokenize.NAME) and t.string in words
        ]
        first, last = found[0], found[-1]
        return self.source.token_offset(first.start), self.source.token_offset(last.end)

    # -- statements -----------------------------------------------------------------------

    def body(self, statements: list[ast.stmt]) -> None:
        """Each statement but bare strings (docstrings and attribute docstrings)."""
        for statement in statements:
            if not _is_bare_string(statement):
                self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name == "__repr__":
                return
            self.scope.append(node.name)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    self.expression(default)
            self.body(node.body)
            self.scope.pop()
            return
        if isinstance(node, ast.ClassDef):
            self.scope.append(node.name)
            self.body(node.body)
            self.scope.pop()
            return
        if isinstance(node, ast.Import | ast.ImportFrom) or _is_type_checking(node):
            return
        if _assigns_names(node, {"__all__", "__slots__"}):
            return
        removable = isinstance(node, ast.Raise | ast.Delete) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        )
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            removable = all(isinstance(t, ast.Attribute | ast.Subscript) for t in targets)
        if removable:
            self.add("statement-removed", *self.source.span(node), "pass")
        if isinstance(node, ast.Break):
            self.add("break-continue", *self.source.span(node), "continue")
        if (
            isinstance(node, ast.Return)
            and node.value is not None
            and not (isinstance(node.value, ast.Constant) and node.value.value is None)
        ):
            self.add("return-none", *self.source.span(node.value), "None")
        if isinstance(node, ast.If | ast.While):
            self.condition(node.test)
        if isinstance(node, ast.AugAssign):
            self.augmented(node)
        self.children(node)

    def children(self, node: ast.AST) -> None:
        """Descend into a node's expressions and statements (never annotations or decorators)."""
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list"):
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, ast.stmt):
                    if not _is_bare_string(item):
                        self.statement(item)
                elif isinstance(item, ast.expr):
                    self.expression(item)
                elif isinstance(item, ast.AST):
                    self.children(item)

    def condition(self, test: ast.expr) -> None:
        if isinstance(test, ast.Compare) or (
            isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        ):
            return  # the compare and not-removed operators already negate it
        start, end = self.source.span(test)
        self.add("negate-condition", start, end, f"not ({self.source.text[start:end]})")

    def augmented(self, node: ast.AugAssign) -> None:
        written = self.operator_token(
            node.target, node.value, tuple(f"{o}=" for o in _ARITHMETIC_SWAPS)
        )
        symbol = self.source.text[written[0] : written[1]][:-1]
        self.add("arithmetic", *written, f"{_ARITHMETIC_SWAPS[symbol]}=")

    # -- expressions ----------------------------------------------------------------------

    def expression(self, node: ast.expr) -> None:
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.BoolOp):
            for left, right in zip(node.values, node.values[1:], strict=False):
                start, end = self.operator_token(left, right, ("and", "or"))
                word = self.source.text[start:end]
                self.add("boolean", start, end, "or" if word == "and" else "and")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            operand = self.text(node.operand)
            if isinstance(node.operand, ast.BoolOp | ast.IfExp | ast.Lambda | ast.NamedExpr):
                operand = f"({operand})"
            self.add("not-removed", *self.source.span(node), operand)
        elif isinstance(node, ast.BinOp):
            written = self.operator_token(node.left, node.right, tuple(_ARITHMETIC_SWAPS))
            symbol = self.source.text[written[0] : written[1]]
            self.add("arithmetic", *written, _ARITHMETIC_SWAPS[symbol])
        elif isinstance(node, ast.IfExp):
            self.condition(node.test)
        elif isinstance(node, ast.Constant):
            self.constant(node)
            return
        elif isinstance(node, ast.Call):
            self.call(node)
            return
        self.children(node)

    def compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        words = ("==", "!=", "<", "<=", ">", ">=", "is", "not", "in")
        for index, op in enumerate(node.ops):
            start, end = self.operator_token(operands[index], operands[index + 1], words)
            for replacement in _COMPARE_SWAPS[type(op)]:
                self.add("compare", start, end, replacement)

    def call(self, node: ast.Call) -> None:
        name = _call_name(node)
        if name == "TypeVar":
            return
        self.expression(node.func)
        arguments: list[ast.AST] = [*node.args, *node.keywords]
        arguments.sort(key=lambda a: (a.lineno, a.col_offset))  # type: ignore[attr-defined]
        for index, argument in enumerate(arguments):
            if isinstance(argument, ast.keyword):
                if argument.arg is not None:
                    self.drop_keyword(arguments, index)
                self.expression(argument.value)
                continue
            message = index == 0 and (name.endswith("Error") or name.endswith("Exception"))
            if message and isinstance(argument, ast.Constant):
                continue
            assert isinstance(argument, ast.expr)
            self.expression(argument)

    def drop_keyword(self, arguments: list[ast.AST], index: int) -> None:
        start, end = self.source.span(arguments[index])
        if index + 1 < len(arguments):
            end = self.source.span(arguments[index + 1])[0]
        elif index > 0:
            start = self.source.span(arguments[index - 1])[1]
        self.add("keyword-removed", start, end, "")

    def constant(self, node: ast.Constant) -> None:
        start, end = self.source.span(node)
        value = node.value
        if isinstance(value, bool):
            self.add("constant", start, end, str(not value))
        elif isinstance(value, int):
            written = self.source.text[start:end]
            hexadecimal = written.lower().startswith("0x")
            for changed in (value + 1, value - 1):
                self.add("constant", start, end, hex(changed) if hexadecimal else str(changed))
        elif isinstance(value, float):
            for moved in (value + 1, value - 1):
                self.add("constant", start, end, repr(moved))
        elif isinstance(value, str):
            if _SQL.search(value):
                self.sql(start, end)
            else:
                self.add("constant", start, end, repr(f"XX{value}XX"))

    def sql(self, start: int, end: int) -> None:
        """Token-level mutations inside each literal piece of a SQL string constant.

        An ``=`` of a ``SET`` clause assigns rather than compares, so it is left alone.
        """
        pieces: list[tuple[int, str]] = []
        for token in self.source.tokens_between(start, end):
            if token.type == tokenize.STRING:
                written = token.string
                prefix = len(written) - len(written.lstrip("bBrRuU"))
                quote = 3 if written[prefix : prefix + 3] in ('"""', "'''") else 1
                base = self.source.token_offset(token.start) + prefix + quote
                pieces.append((base, written[prefix + quote : -quote]))
        statement = "".join(body for _, body in pieces)
        assignments = [m.span() for m in _SQL_SET_CLAUSE.finditer(statement)]
        at_statement = 0
        for base, body in pieces:
            for operator, pattern in _SQL_RULES:
                for match in pattern.finditer(body):
                    at, until = match.span(1)
                    where = at_statement + at
                    if match.group(1) == "=" and any(a <= where < b for a, b in assignments):
                        continue
                    for replacement in _sql_replacements(operator, match.group(1)):
                        self.add(operator, base + at, base + until, replacement)
            at_statement += len(body)


def _finalise(source: _Source, changes: list[_Change], module: str) -> list[Mutation]:
    tree = ast.dump(ast.parse(source.text))
    seen: Counter[tuple[str, str, str, str]] = Counter()
    result: list[Mutation] = []
    for change in sorted(changes, key=lambda c: (c.start, c.end, c.operator, c.replacement)):
        mutated_text = source.text[: change.start] + change.replacement + source.text[change.end :]
        try:
            if ast.dump(ast.parse(mutated_text)) == tree:
                continue
        except SyntaxError:
            continue
        replaced = source.text[change.start : change.end]
        key = (change.function, change.operator, replaced, change.replacement)
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256(repr((module, *key, occurrence)).encode()).hexdigest()[:10]
        first = source.line_of(change.start)
        last = source.line_of(max(change.start, change.end - 1))
        line_start, line_end = source.line_starts[first - 1], source.line_starts[last]
        before = source.text[line_start:line_end]
        after = (
            source.text[line_start : change.start]
            + change.replacement
            + source.text[change.end : line_end]
        )
        original, mutated = _shown(before, after)
        result.append(
            Mutation(
                digest,
                change.operator,
                change.function,
                first,
                change.start,
                change.end,
                change.replacement,
                original,
                mutated,
            )
        )
    return result


def mutations(text: str, module: str) -> list[Mutation]:
    """Every mutant of ``text`` (a module named ``module`` in ids), in source order.

    A change that does not parse, or parses to the same tree, is left out.
    """
    source = _Source(text)
    finder = _Finder(source)
    tree = ast.parse(text)
    finder.body(tree.body)
    return _finalise(source, finder.changes, module)
