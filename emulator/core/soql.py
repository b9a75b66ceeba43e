"""A small SOQL front end: tokenizer, recursive-descent parser and a compiler to DuckDB SQL.

Supported: ``SELECT f1, f2 | COUNT() FROM Opportunity [WHERE ...] [GROUP BY ...] [ORDER BY f
[ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`` with ``= != <> < <= > >= LIKE IN NOT IN``,
``AND``/``OR``/``NOT`` and parentheses. Every literal becomes a bound parameter; identifiers are
only ever emitted as the schema's own column names. String comparisons are case-insensitive, as
in Salesforce, except on ``Id`` and on the External ID field when the org treats it as
case-sensitive. Errors carry Salesforce's error code and message layout (caret, Row, Column).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from emulator.core import schema
from emulator.core.schema import Field, FieldType
from resources.salesforce.protocol import INVALID_FIELD, INVALID_TYPE, MALFORMED_QUERY

INVALID_QUERY_FILTER_OPERATOR: Final = "INVALID_QUERY_FILTER_OPERATOR"
NUMBER_OUTSIDE_VALID_RANGE: Final = "NUMBER_OUTSIDE_VALID_RANGE"
MAX_OFFSET: Final = 2000
TABLE: Final = f'"{schema.OBJECT_NAME}"'

TEXT_TYPES: Final = frozenset(
    {FieldType.ID, FieldType.STRING, FieldType.TEXTAREA, FieldType.PICKLIST}
)
NUMBER_TYPES: Final = frozenset({FieldType.CURRENCY, FieldType.PERCENT, FieldType.DOUBLE})
LONG_TEXT_LENGTH: Final = 255  # longer text areas cannot be filtered or sorted


class Feature(StrEnum):
    """Clauses a query used, so callers (Bulk query) can refuse what they do not support."""

    COUNT = "COUNT"
    AGGREGATE = "AGGREGATE"
    GROUP_BY = "GROUP BY"
    OFFSET = "OFFSET"
    LIMIT = "LIMIT"
    ORDER_BY = "ORDER BY"
    WHERE = "WHERE"


class SoqlError(Exception):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


# ---------------------------------------------------------------------------------------------
# Tokenizer


class Kind(StrEnum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    OP = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    EOF = "<EOF>"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    pos: int
    value: Any = None
    like_pattern: str = ""  # for strings: the DuckDB LIKE pattern with '\' as escape

    def is_keyword(self, *words: str) -> bool:
        return self.kind is Kind.IDENT and self.text.upper() in words


_DATETIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})"
)
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\dT])")
_NUMBER: Final = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_OPERATORS: Final = ("!=", "<>", "<=", ">=", "=", "<", ">")
_SIMPLE_ESCAPES: Final = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
}


class Tokenizer:
    def __init__(self, soql: str) -> None:
        self.soql = soql

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        pos = 0
        while True:
            pos = self._skip_space(pos)
            if pos >= len(self.soql):
                out.append(Token(Kind.EOF, "<EOF>", pos))
                return out
            token = self._next(pos)
            out.append(token)
            pos += len(token.text)

    def _skip_space(self, pos: int) -> int:
        while pos < len(self.soql) and self.soql[pos].isspace():
            pos += 1
        return pos

    def _next(self, pos: int) -> Token:
        char = self.soql[pos]
        if char == "'":
            return self._string(pos)
        if char in "(),":
            kind = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}[char]
            return Token(kind, char, pos)
        for op in _OPERATORS:
            if self.soql.startswith(op, pos):
                return Token(Kind.OP, op, pos)
        if match := _DATETIME.match(self.soql, pos):
            return Token(Kind.DATETIME, match.group(0), pos, _datetime_value(match, self, pos))
        if match := _DATE.match(self.soql, pos):
            return Token(Kind.DATE, match.group(0), pos, _date_value(match, self, pos))
        if match := _NUMBER.match(self.soql, pos):
            return Token(Kind.NUMBER, match.group(0), pos, Decimal(match.group(0)))
        if match := _IDENT.match(self.soql, pos):
            return Token(Kind.IDENT, match.group(0), pos)
        raise syntax_error(self.soql, pos, f"unexpected token: '{char}'")

    def _string(self, start: int) -> Token:
        value: list[str] = []
        pattern: list[str] = []
        pos = start + 1
        while pos < len(self.soql):
            char = self.soql[pos]
            if char == "'":
                text = self.soql[start : pos + 1]
                return Token(Kind.STRING, text, start, "".join(value), "".join(pattern))
            if char != "\\":
                value.append(char)
                pattern.append(char)
                pos += 1
                continue
            decoded, like, width = self._escape(start, pos)
            value.append(decoded)
            pattern.append(like)
            pos += width
        raise syntax_error(self.soql, start, f"line 1:{start} mismatched character '<EOF>'")

    def _escape(self, start: int, pos: int) -> tuple[str, str, int]:
        """One backslash sequence: (its value, its LIKE-pattern form, characters consumed)."""
        code = self.soql[pos + 1 : pos + 2]
        if code in _SIMPLE_ESCAPES:
            decoded = _SIMPLE_ESCAPES[code]
            return decoded, "\\\\" if decoded == "\\" else decoded, 2
        if code in ("%", "_"):
            return "\\" + code, "\\" + code, 2  # a literal % or _ inside LIKE
        if code == "u":
            digits = self.soql[pos + 2 : pos + 6]
            if re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                decoded = chr(int(digits, 16))
                return decoded, "\\\\" if decoded == "\\" else decoded, 6
        sequence = self.soql[pos : pos + 2]
        raise syntax_error(
            self.soql,
            start,
            f"Invalid string literal '{self.soql[start:pos]}'. "
            f"Illegal character sequence '{sequence}' in string literal.",
        )


def _date_value(match: re.Match[str], tokenizer: Tokenizer, pos: int) -> dt.date:
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise syntax_error(tokenizer.soql, pos, f"line 1:{pos} no viable alternative") from None


def _datetime_value(match: re.Match[str], tokenizer: Tokenizer, pos: int) -> dt.datetime:
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    millis = int((match.group(7) or ".0")[1:].ljust(3, "0"))
    zone = match.group(8)
    offset = dt.timedelta(0)
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        return dt.datetime(
            year, month, day, hour, minute, second, millis * 1000, tzinfo=dt.timezone(offset)
        )
    except ValueError:
        raise syntax_error(tokenizer.soql, pos, f"line 1:{pos} no viable alternative") from None


# ---------------------------------------------------------------------------------------------
# Errors in Salesforce's layout


def error_text(soql: str, pos: int, message: str) -> str:
    """``\\n<line>\\n<caret>\\nERROR at Row:R:Column:C\\n<message>``, as Salesforce prints them."""
    line_start = soql.rfind("\n", 0, pos) + 1
    line_end = soql.find("\n", pos)
    line = soql[line_start : line_end if line_end >= 0 else len(soql)]
    row = soql.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{message}"


def syntax_error(soql: str, pos: int, message: str) -> SoqlError:
    return SoqlError(MALFORMED_QUERY, error_text(soql, pos, message))


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class FieldRef:
    name: str
    pos: int


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str  # = != < <= > >= LIKE IN NOT IN
    values: tuple[Token, ...]  # one literal, or the IN list


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class Junction:
    op: str  # AND | OR
    operands: tuple[Condition, ...]


Condition = Comparison | Not | Junction


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class SelectItem:
    field: FieldRef | None  # None for COUNT()
    aggregate: str | None = None  # COUNT, SUM, ... when aggregated


@dataclass(frozen=True)
class Query:
    select: tuple[SelectItem, ...]
    object_name: str
    object_pos: int
    where: Condition | None
    group_by: tuple[FieldRef, ...]
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    offset_pos: int = 0


_AGGREGATES: Final = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX")
_UNSUPPORTED_CLAUSES: Final = ("HAVING", "WITH", "FOR", "UPDATE", "TYPEOF", "USING", "FIELDS")
_COMPARISON_OPS: Final = frozenset(_OPERATORS)


class Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = Tokenizer(soql).tokens()
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def at(self, kind: Kind) -> bool:
        return self.current.kind is kind

    def advance(self) -> Token:
        token = self.current
        if token.kind is not Kind.EOF:
            self.index += 1
        return token

    def error(self, token: Token | None = None) -> SoqlError:
        token = token or self.current
        return syntax_error(self.soql, token.pos, f"unexpected token: {_shown(token)}")

    def expect_keyword(self, *words: str) -> Token:
        if not self.current.is_keyword(*words):
            raise self.error()
        return self.advance()

    def expect(self, kind: Kind) -> Token:
        if self.current.kind is not kind:
            raise self.error()
        return self.advance()

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        select = self._select_list()
        self.expect_keyword("FROM")
        object_token = self.expect(Kind.IDENT)
        where = self._where()
        group_by = self._group_by()
        order_by = self._order_by()
        limit = self._int_clause("LIMIT")
        offset_pos = self.current.pos
        offset = self._int_clause("OFFSET")
        if self.current.kind is not Kind.EOF:
            raise self.error()
        return Query(
            select,
            object_token.text,
            object_token.pos,
            where,
            group_by,
            order_by,
            limit,
            offset,
            offset_pos,
        )

    def _select_list(self) -> tuple[SelectItem, ...]:
        items = [self._select_item()]
        while self.current.kind is Kind.COMMA:
            self.advance()
            items.append(self._select_item())
        return tuple(items)

    def _select_item(self) -> SelectItem:
        token = self.expect(Kind.IDENT)
        if token.is_keyword(*_UNSUPPORTED_CLAUSES) and self.at(Kind.LPAREN):
            raise syntax_error(self.soql, token.pos, f"{token.text.upper()} is not supported")
        if token.text.upper() in _AGGREGATES and self.at(Kind.LPAREN):
            self.advance()
            if token.is_keyword("COUNT") and self.at(Kind.RPAREN):
                self.advance()
                return SelectItem(None, "COUNT")
            argument = self.expect(Kind.IDENT)
            self.expect(Kind.RPAREN)
            if self.at(Kind.IDENT) and not self.current.is_keyword("FROM"):
                self.advance()  # an alias
            return SelectItem(FieldRef(argument.text, argument.pos), token.text.upper())
        if token.is_keyword("FROM", "SELECT"):
            raise self.error(token)
        if self.at(Kind.LPAREN):
            raise self.error()
        return SelectItem(FieldRef(token.text, token.pos))

    def _where(self) -> Condition | None:
        if not self.current.is_keyword("WHERE"):
            return None
        self.advance()
        return self._condition()

    def _condition(self) -> Condition:
        """Operands joined by AND or by OR; mixing them needs parentheses, as in SOQL."""
        first = self._unary()
        if not self.current.is_keyword("AND", "OR"):
            return first
        op = self.current.text.upper()
        operands = [first]
        while self.current.is_keyword("AND", "OR"):
            if self.current.text.upper() != op:
                raise self.error()
            self.advance()
            operands.append(self._unary())
        return Junction(op, tuple(operands))

    def _unary(self) -> Condition:
        if self.current.is_keyword("NOT"):
            self.advance()
            return Not(self._unary())
        if self.current.kind is Kind.LPAREN:
            self.advance()
            inner = self._condition()
            self.expect(Kind.RPAREN)
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        name = self.expect(Kind.IDENT)
        if name.is_keyword("AND", "OR", "NOT", "WHERE", "ORDER", "LIMIT"):
            raise self.error(name)
        ref = FieldRef(name.text, name.pos)
        if self.current.kind is Kind.OP:
            op = self.advance().text
            return Comparison(ref, "!=" if op == "<>" else op, (self._literal(),))
        if self.current.is_keyword("LIKE"):
            self.advance()
            return Comparison(ref, "LIKE", (self._literal(),))
        negated = False
        if self.current.is_keyword("NOT"):
            self.advance()
            negated = True
            if not self.current.is_keyword("IN"):
                raise self.error()
        if self.current.is_keyword("IN"):
            self.advance()
            return Comparison(ref, "NOT IN" if negated else "IN", self._literal_list())
        if self.current.is_keyword("INCLUDES", "EXCLUDES"):
            raise syntax_error(self.soql, self.current.pos, "INCLUDES/EXCLUDES is not supported")
        raise self.error()

    def _literal_list(self) -> tuple[Token, ...]:
        self.expect(Kind.LPAREN)
        if self.current.is_keyword("SELECT"):
            raise syntax_error(
                self.soql, self.current.pos, "semi-join subselects are not supported"
            )
        values = [self._literal()]
        while self.current.kind is Kind.COMMA:
            self.advance()
            values.append(self._literal())
        self.expect(Kind.RPAREN)
        return tuple(values)

    def _literal(self) -> Token:
        token = self.current
        if token.kind in (Kind.STRING, Kind.NUMBER, Kind.DATE, Kind.DATETIME):
            return self.advance()
        if token.is_keyword("NULL", "TRUE", "FALSE"):
            return self.advance()
        raise self.error()

    def _group_by(self) -> tuple[FieldRef, ...]:
        if not self.current.is_keyword("GROUP"):
            return ()
        self.advance()
        self.expect_keyword("BY")
        refs = [self._field_ref()]
        while self.current.kind is Kind.COMMA:
            self.advance()
            refs.append(self._field_ref())
        if self.current.is_keyword("HAVING"):
            raise syntax_error(self.soql, self.current.pos, "HAVING is not supported")
        return tuple(refs)

    def _field_ref(self) -> FieldRef:
        token = self.expect(Kind.IDENT)
        return FieldRef(token.text, token.pos)

    def _order_by(self) -> tuple[OrderItem, ...]:
        if not self.current.is_keyword("ORDER"):
            return ()
        self.advance()
        self.expect_keyword("BY")
        items = [self._order_item()]
        while self.current.kind is Kind.COMMA:
            self.advance()
            items.append(self._order_item())
        return tuple(items)

    def _order_item(self) -> OrderItem:
        ref = self._field_ref()
        descending = False
        if self.current.is_keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first = not descending  # Salesforce's default: nulls first ascending, last descending
        if self.current.is_keyword("NULLS"):
            self.advance()
            nulls_first = self.expect_keyword("FIRST", "LAST").text.upper() == "FIRST"
        return OrderItem(ref, descending, nulls_first)

    def _int_clause(self, keyword: str) -> int | None:
        if not self.current.is_keyword(keyword):
            return None
        self.advance()
        token = self.current
        if token.kind is not Kind.NUMBER or not token.text.isdigit():
            raise self.error()
        self.advance()
        return int(token.text)


def _shown(token: Token) -> str:
    return "<EOF>" if token.kind is Kind.EOF else token.text


def parse(soql: str) -> Query:
    if not soql or not soql.strip():
        raise SoqlError(MALFORMED_QUERY, "SOQL statements cannot be empty or null")
    return Parser(soql).parse()


# ---------------------------------------------------------------------------------------------
# Compilation to DuckDB SQL


@dataclass(frozen=True)
class CompiledQuery:
    """A checked query over the Opportunity table, ready to run with bound parameters."""

    soql: str
    fields: tuple[Field, ...]  # selected, in SELECT order; empty for COUNT()
    features: frozenset[Feature]
    where_sql: str  # never empty; includes the IsDeleted filter for ``query``
    where_params: tuple[Any, ...]
    order_sql: str  # "" or "ORDER BY ..."
    limit: int | None
    offset: int | None

    @property
    def is_count(self) -> bool:
        return Feature.COUNT in self.features

    def select_sql(self, columns: list[str] | None = None) -> tuple[str, list[Any]]:
        """The rows, in order: the selected fields (or ``columns``, raw SQL expressions)."""
        expressions = columns if columns is not None else [f'"{f.name}"' for f in self.fields]
        sql = f"SELECT {', '.join(expressions)} FROM {TABLE} WHERE {self.where_sql}"  # noqa: S608 - names are validated, values bound
        if self.order_sql:
            sql += f" {self.order_sql}"
        return sql + self._paging_sql(), [*self.where_params, *self._paging_params()]

    def count_sql(self) -> tuple[str, list[Any]]:
        inner = f"SELECT 1 FROM {TABLE} WHERE {self.where_sql}{self._paging_sql()}"  # noqa: S608 - names are validated, values bound
        return f"SELECT count(*) FROM ({inner})", [*self.where_params, *self._paging_params()]  # noqa: S608 - names are validated, values bound

    def _paging_sql(self) -> str:
        sql = ""
        if self.limit is not None:
            sql += " LIMIT ?"
        if self.offset is not None:
            sql += " OFFSET ?"
        return sql

    def _paging_params(self) -> list[int]:
        return [n for n in (self.limit, self.offset) if n is not None]


@dataclass
class _Compiler:
    soql: str
    include_deleted: bool
    external_id_case_sensitive: bool
    params: list[Any] = field(default_factory=list)

    def compile(self, query: Query) -> CompiledQuery:
        self._check_object(query)
        features = self._features(query)
        fields = self._selected_fields(query)
        for ref in query.group_by:
            self._resolve(ref)
        where_sql = self._where(query.where)
        order_sql = self._order(query)
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SoqlError(
                NUMBER_OUTSIDE_VALID_RANGE,
                f"Maximum SOQL offset allowed is {MAX_OFFSET}",
            )
        return CompiledQuery(
            soql=self.soql,
            fields=fields,
            features=features,
            where_sql=where_sql,
            where_params=tuple(self.params),
            order_sql=order_sql,
            limit=query.limit,
            offset=query.offset,
        )

    def _check_object(self, query: Query) -> None:
        if query.object_name.lower() != schema.OBJECT_NAME.lower():
            raise SoqlError(
                INVALID_TYPE,
                error_text(
                    self.soql,
                    query.object_pos,
                    f"sObject type '{query.object_name}' is not supported. If you are attempting "
                    "to use a custom object, be sure to append the '__c' after the entity name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                ),
            )

    def _features(self, query: Query) -> frozenset[Feature]:
        features: set[Feature] = set()
        if any(item.field is None for item in query.select):
            features.add(Feature.COUNT)
        if any(item.aggregate is not None and item.field is not None for item in query.select):
            features.add(Feature.AGGREGATE)
        clauses = {
            Feature.WHERE: query.where is not None,
            Feature.GROUP_BY: bool(query.group_by),
            Feature.ORDER_BY: bool(query.order_by),
            Feature.LIMIT: query.limit is not None,
            Feature.OFFSET: query.offset is not None,
        }
        features.update(name for name, used in clauses.items() if used)
        if Feature.COUNT in features and len(query.select) > 1:
            raise syntax_error(
                self.soql,
                query.select[1].field.pos if query.select[1].field else 0,
                "COUNT() must be the only element in the SELECT list.",
            )
        if Feature.COUNT in features and query.order_by:
            raise syntax_error(
                self.soql, query.order_by[0].field.pos, "ORDER BY is not allowed with COUNT()."
            )
        return frozenset(features)

    def _selected_fields(self, query: Query) -> tuple[Field, ...]:
        fields: list[Field] = []
        for item in query.select:
            if item.field is None:
                continue
            resolved = self._resolve(item.field)
            if resolved in fields:
                raise syntax_error(
                    self.soql, item.field.pos, f"duplicate field selected: {resolved.name}"
                )
            fields.append(resolved)
        return tuple(fields)

    def _resolve(self, ref: FieldRef) -> Field:
        name = ref.name
        if "." in name:
            prefix, _, rest = name.partition(".")
            if prefix.lower() == schema.OBJECT_NAME.lower() and "." not in rest:
                name = rest
            else:
                raise SoqlError(
                    INVALID_FIELD,
                    error_text(
                        self.soql,
                        ref.pos,
                        f"Didn't understand relationship '{prefix}' in field path. If you are "
                        "attempting to use a custom relationship, be sure to append the '__r' "
                        "after the custom relationship name. Please reference your WSDL or the "
                        "describe call for the appropriate names.",
                    ),
                )
        found = schema.FIELDS_BY_LOWER_NAME.get(name.lower())
        if found is None:
            raise SoqlError(
                INVALID_FIELD,
                error_text(
                    self.soql,
                    ref.pos,
                    f"No such column '{name}' on entity '{schema.OBJECT_NAME}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the "
                    "custom field name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                ),
            )
        return found

    def _where(self, condition: Condition | None) -> str:
        deleted = "" if self.include_deleted else 'coalesce("IsDeleted", false) = false'
        if condition is None:
            return deleted or "true"
        user = self._condition(condition)
        return f"{deleted} AND ({user})" if deleted else user

    def _condition(self, condition: Condition) -> str:
        if isinstance(condition, Junction):
            joined = f" {condition.op} ".join(self._condition(c) for c in condition.operands)
            return f"({joined})"
        if isinstance(condition, Not):
            return f"(NOT coalesce({self._condition(condition.operand)}, false))"
        return self._comparison(condition)

    def _comparison(self, comparison: Comparison) -> str:
        target = self._resolve(comparison.field)
        self._check_filterable(target, comparison.field)
        if comparison.op in ("IN", "NOT IN"):
            return self._membership(target, comparison)
        literal = comparison.values[0]
        if literal.is_keyword("NULL"):
            return self._null_check(target, comparison, literal)
        value = self._value(target, literal, comparison.field)
        column, placeholder = self._operands(target)
        if comparison.op == "LIKE":
            return self._like(target, comparison, literal)
        self.params.append(value)
        if comparison.op == "!=":
            return f'("{target.name}" IS NULL OR {column} <> {placeholder})'
        return f"coalesce({column} {comparison.op} {placeholder}, false)"

    def _null_check(self, target: Field, comparison: Comparison, literal: Token) -> str:
        if comparison.op == "=":
            return f'"{target.name}" IS NULL'
        if comparison.op == "!=":
            return f'"{target.name}" IS NOT NULL'
        raise syntax_error(self.soql, literal.pos, f"unexpected token: {literal.text}")

    def _like(self, target: Field, comparison: Comparison, literal: Token) -> str:
        if target.type not in TEXT_TYPES or literal.kind is not Kind.STRING:
            raise SoqlError(
                INVALID_FIELD,
                error_text(
                    self.soql,
                    comparison.field.pos,
                    f"invalid operator on field '{target.name}': LIKE",
                ),
            )
        self.params.append(literal.like_pattern)
        operator = "ILIKE" if self._case_insensitive(target) else "LIKE"
        return f"coalesce(\"{target.name}\" {operator} ? ESCAPE '\\', false)"

    def _membership(self, target: Field, comparison: Comparison) -> str:
        has_null = any(v.is_keyword("NULL") for v in comparison.values)
        values = [v for v in comparison.values if not v.is_keyword("NULL")]
        column, placeholder = self._operands(target)
        for literal in values:
            self.params.append(self._value(target, literal, comparison.field))
        listed = f"{column} IN ({', '.join([placeholder] * len(values))})" if values else "false"
        name = f'"{target.name}"'
        if comparison.op == "IN":
            return (
                f"({name} IS NULL OR coalesce({listed}, false))"
                if has_null
                else (f"coalesce({listed}, false)")
            )
        if has_null:
            return f"({name} IS NOT NULL AND NOT coalesce({listed}, false))"
        return f"({name} IS NULL OR NOT coalesce({listed}, false))"

    def _operands(self, target: Field) -> tuple[str, str]:
        """The column and placeholder expressions, folded to lower case when comparison ignores case."""
        if self._case_insensitive(target):
            return f'lower("{target.name}")', "lower(?)"
        return f'"{target.name}"', "?"

    def _case_insensitive(self, target: Field) -> bool:
        if target.type not in TEXT_TYPES or target.type is FieldType.ID:
            return False
        return not (target.external_id and self.external_id_case_sensitive)

    def _check_filterable(self, target: Field, ref: FieldRef) -> None:
        if target.type is FieldType.TEXTAREA and target.length > LONG_TEXT_LENGTH:
            raise SoqlError(
                INVALID_FIELD,
                error_text(
                    self.soql,
                    ref.pos,
                    f"field '{target.name}' can not be filtered in a query call",
                ),
            )

    def _value(self, target: Field, literal: Token, ref: FieldRef) -> Any:
        """The literal as a Python value of the field's type, or Salesforce's type error."""
        if target.type in TEXT_TYPES and literal.kind is Kind.STRING:
            if target.type is FieldType.ID and not _looks_like_id(literal.value):
                raise SoqlError(
                    INVALID_QUERY_FILTER_OPERATOR,
                    error_text(self.soql, literal.pos, f"invalid ID field: {literal.value}"),
                )
            return literal.value
        if target.type in NUMBER_TYPES and literal.kind is Kind.NUMBER:
            return literal.value
        if target.type is FieldType.DATE and literal.kind is Kind.DATE:
            return literal.value
        if target.type is FieldType.DATETIME and literal.kind is Kind.DATETIME:
            return literal.value
        if target.type is FieldType.BOOLEAN and literal.is_keyword("TRUE", "FALSE"):
            return literal.text.upper() == "TRUE"
        raise SoqlError(INVALID_FIELD, error_text(self.soql, ref.pos, _type_message(target)))

    def _order(self, query: Query) -> str:
        if not query.order_by:
            return ""
        parts = []
        for item in query.order_by:
            target = self._resolve(item.field)
            if target.type is FieldType.TEXTAREA and target.length > LONG_TEXT_LENGTH:
                raise SoqlError(
                    INVALID_FIELD,
                    error_text(
                        self.soql,
                        item.field.pos,
                        f"field '{target.name}' can not be sorted in a query call",
                    ),
                )
            column, _ = self._operands(target)
            direction = "DESC" if item.descending else "ASC"
            nulls = "NULLS FIRST" if item.nulls_first else "NULLS LAST"
            parts.append(f"{column} {direction} {nulls}")
        return "ORDER BY " + ", ".join(parts)


def _looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum() and value.isascii()


def _type_message(target: Field) -> str:
    if target.type in TEXT_TYPES:
        return (
            f"value of filter criterion for field '{target.name}' must be of type "
            f"{'id' if target.type is FieldType.ID else 'string'} and should be enclosed in quotes"
        )
    type_name = "dateTime" if target.type is FieldType.DATETIME else str(target.type)
    return (
        f"value of filter criterion for field '{target.name}' must be of type {type_name} "
        "and should not be enclosed in quotes"
    )


def compile_soql(
    soql: str, *, include_deleted: bool = False, external_id_case_sensitive: bool = False
) -> CompiledQuery:
    """Parse and check ``soql``; raises :class:`SoqlError` with Salesforce's code and message."""
    query = parse(soql)
    return _Compiler(soql, include_deleted, external_id_case_sensitive).compile(query)
