"""Partition keys <-> ExternalId ranges: readable, reversible, and sorted like the ranges.

A key is ``<lo>!<hi>`` with each bound escaped; an empty side is an open end::

    !OPP-0200         [-inf, 'OPP-0200')
    OPP-0200!OPP-04   ['OPP-0200', 'OPP-04')
    OPP-04!           ['OPP-04', +inf)
    !                 the whole key space (a plan with one range)

Escaping is per character, prefix-free and monotone, so Python string order of keys equals the
order of their lower bounds, i.e. the order of the ranges of a tiling (the first range's key
starts with ``!``, which sorts below every escaped character):

- ``-`` and ``0``-``9 : ; < = > ? @ A``-``Z [ \\ ] ^ _ ` a``-``z { | }`` stand for themselves;
- code points below ``-`` (controls, space, ``! " # $ % & ' ( ) * + ,``) become ``+`` and two
  upper-case hex digits (``,`` -> ``+2C``);
- ``.`` becomes ``/.`` and ``/`` becomes ``//`` (so no key holds ``...``);
- ``~`` and everything above it (DEL, non-ASCII) become ``~`` and six upper-case hex digits
  (``é`` -> ``~0000E9``).

Keys therefore never contain ``...``, ``,``, whitespace, control characters or ``*`` (a
wildcard in Dagster's partition selection syntax), whatever the ids contain. Each encoded bound
is at most ``MAX_ENCODED_BOUND`` characters: the plan picks short boundaries (the shortest
separator between adjacent ids), and ``range_to_key`` refuses longer ones rather than truncate,
because the run must recover its exact range from the key alone.
"""

from __future__ import annotations

from typing import Final

from assets.ranges import KeyRange

SEPARATOR: Final = "!"
MAX_ENCODED_BOUND: Final = 100
# Dagster's own list (dagster._core.definitions.partitions.utils.base.INVALID_PARTITION_SUBSTRINGS)
# plus what our format and the UI's selection syntax reserve.
FORBIDDEN_SUBSTRINGS: Final = ("...", ",", "*", " ", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")

_LOW_ESCAPE: Final = "+"  # for code points below "-"
_DOT_ESCAPE: Final = "/"  # for "." and "/"
_HIGH_ESCAPE: Final = "~"  # for "~" and above
_FIRST_LITERAL: Final = ord("-")
_LAST_LITERAL: Final = ord("}")


_NEEDS_ESCAPE_ASCII: Final = frozenset(
    [chr(c) for c in range(_FIRST_LITERAL)] + [".", "/", "~", "\x7f"]
)


class InvalidPartitionKey(ValueError):
    """A partition key that does not describe a range."""


def _encode_char(char: str) -> str:
    code = ord(char)
    if code < _FIRST_LITERAL:
        return f"{_LOW_ESCAPE}{code:02X}"
    if char in "./":
        return _DOT_ESCAPE + char
    if code > _LAST_LITERAL:
        return f"{_HIGH_ESCAPE}{code:06X}"
    return char


def encode_bound(bound: str) -> str:
    """Escape one bound for use in a key (order-preserving: ``a < b`` iff ``enc(a) < enc(b)``)."""
    if bound.isascii() and not any(c in bound for c in _NEEDS_ESCAPE_ASCII):
        return bound
    return "".join(_encode_char(c) for c in bound)


def decode_bound(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == _LOW_ESCAPE:
            out.append(_hex_char(text, i + 1, 2, upper_limit=_FIRST_LITERAL))
            i += 3
        elif char == _DOT_ESCAPE:
            if i + 1 >= len(text) or text[i + 1] not in "./":
                raise InvalidPartitionKey(f"bad escape at {i} in {text!r}")
            out.append(text[i + 1])
            i += 2
        elif char == _HIGH_ESCAPE:
            decoded = _hex_char(text, i + 1, 6, upper_limit=0x110000)
            if ord(decoded) <= _LAST_LITERAL:
                raise InvalidPartitionKey(f"bad escape at {i} in {text!r}")
            out.append(decoded)
            i += 7
        elif _FIRST_LITERAL <= ord(char) <= _LAST_LITERAL:
            out.append(char)
            i += 1
        else:
            raise InvalidPartitionKey(f"unescaped character {char!r} in {text!r}")
    return "".join(out)


def _hex_char(text: str, start: int, width: int, upper_limit: int) -> str:
    digits = text[start : start + width]
    if len(digits) != width or any(d not in "0123456789ABCDEF" for d in digits):
        raise InvalidPartitionKey(f"bad escape at {start - 1} in {text!r}")
    code = int(digits, 16)
    if code >= upper_limit:
        raise InvalidPartitionKey(f"bad escape at {start - 1} in {text!r}")
    return chr(code)


def range_to_key(key_range: KeyRange) -> str:
    lo = "" if key_range.lo is None else encode_bound(key_range.lo)
    hi = "" if key_range.hi is None else encode_bound(key_range.hi)
    for side in (lo, hi):
        if len(side) > MAX_ENCODED_BOUND:
            raise InvalidPartitionKey(
                f"bound {side[:20]!r}... is {len(side)} characters once escaped "
                f"(max {MAX_ENCODED_BOUND}); choose a shorter boundary"
            )
    return f"{lo}{SEPARATOR}{hi}"


def key_to_range(key: str) -> KeyRange:
    """The range a partition key describes; raises ``InvalidPartitionKey`` for anything else."""
    lo_text, sep, hi_text = key.partition(SEPARATOR)
    if not sep or SEPARATOR in hi_text:
        raise InvalidPartitionKey(f"{key!r} is not <lo>{SEPARATOR}<hi>")
    try:
        key_range = KeyRange(
            decode_bound(lo_text) if lo_text else None,
            decode_bound(hi_text) if hi_text else None,
        )
    except InvalidPartitionKey:
        raise
    except ValueError as exc:
        raise InvalidPartitionKey(f"{key!r}: {exc}") from None
    if range_to_key(key_range) != key:  # one spelling per range (e.g. no escaped literals)
        raise InvalidPartitionKey(f"{key!r} is not in canonical form")
    return key_range


def is_valid_key(key: str) -> bool:
    try:
        key_to_range(key)
    except InvalidPartitionKey:
        return False
    return True


def encodable(bound: str) -> bool:
    """Whether ``bound`` fits in a key (length after escaping)."""
    return len(encode_bound(bound)) <= MAX_ENCODED_BOUND
