"""Parse a Bulk API 2.0 ingest upload the way Salesforce reads it (reference §7).

The header is read here (so a UTF-8 BOM stays part of the first name, as in Salesforce); the rows
are parsed by ``pyarrow.csv`` with every column typed as string, so empty cells stay ``""`` and
``#N/A`` stays literal: what they mean is decided by the object, not by the parser.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from resources.salesforce.protocol import ColumnDelimiter, LineEnding

ROW_NUMBER = "__row"  # 0-based position of the record in the upload; kept through processing
MAX_HEADER_CHARS = 32_000


class CsvRejected(Exception):
    """The upload as a whole is unusable; the message is the job's ``errorMessage``."""


@dataclass(frozen=True)
class ParsedUpload:
    header: list[str]  # names exactly as uploaded (BOM included, case kept)
    rows: pa.Table  # ``__row`` plus one string column per header position, named ``c0..cN``


def line_ending_error(setting: LineEnding) -> str:
    return (
        "ClientInputError : LineEnding is invalid on user data. "
        f"Current LineEnding setting is {setting.value}"
    )


def parse_upload(data: bytes, delimiter: ColumnDelimiter, line_ending: LineEnding) -> ParsedUpload:
    header_end = data.find(b"\n")
    header_bytes = data if header_end < 0 else data[:header_end]
    _check_line_ending(header_bytes, header_end >= 0, line_ending)
    header = _parse_header(header_bytes.rstrip(b"\r"), delimiter)
    if header_end < 0 or not data[header_end + 1 :].strip(b"\r\n"):
        return ParsedUpload(header, _empty_rows(len(header)))
    return ParsedUpload(header, _parse_rows(data[header_end + 1 :], header, delimiter))


def _check_line_ending(header_bytes: bytes, has_newline: bool, setting: LineEnding) -> None:
    if not has_newline:
        return
    is_crlf = header_bytes.endswith(b"\r")
    if is_crlf != (setting is LineEnding.CRLF):
        raise CsvRejected(line_ending_error(setting))


def _parse_header(header_bytes: bytes, delimiter: ColumnDelimiter) -> list[str]:
    try:
        text = header_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvRejected("ClientInputError : The file is not valid UTF-8") from exc
    if len(text) > MAX_HEADER_CHARS:
        raise CsvRejected("InvalidBatch : InvalidBatch : Header row exceeds 32000 characters")
    names = next(csv.reader(io.StringIO(text), delimiter=delimiter.char), [])
    if not names or all(name == "" for name in names):
        raise CsvRejected("InvalidBatch : InvalidBatch : No header row found")
    return names


def _parse_rows(body: bytes, header: list[str], delimiter: ColumnDelimiter) -> pa.Table:
    names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter.char,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise CsvRejected(f"ClientInputError : {_short_arrow_reason(exc)}") from exc
    return table.add_column(0, ROW_NUMBER, row_numbers(table.num_rows))


def row_numbers(count: int) -> pa.Array:
    """0..count-1 as int64."""
    return int64_array(np.arange(count, dtype=np.int64))


def int64_array(values: np.ndarray) -> pa.Array:
    """A numpy int64 vector as an Arrow array, built from its buffer: ``pa.array`` on numpy or
    ``range`` imports pandas, which costs seconds on a cold start."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def bool_array(mask: np.ndarray) -> pa.Array:
    """A numpy bool mask as an Arrow array, without ``pa.array`` (see ``row_numbers``)."""
    bits = np.packbits(mask.astype(bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def _short_arrow_reason(exc: pa.ArrowInvalid) -> str:
    reason = str(exc).split("\n", 1)[0]
    if "Expected" in reason and "columns" in reason:
        return "Wrong number of columns in a record: " + reason.split(":", 1)[-1].strip()
    if "UTF8" in reason or "utf8" in reason.lower():
        return "The file is not valid UTF-8"
    return reason


def _empty_rows(width: int) -> pa.Table:
    columns = {ROW_NUMBER: pa.array([], pa.int64())}
    columns.update({f"c{i}": pa.array([], pa.string()) for i in range(width)})
    return pa.table(columns)
