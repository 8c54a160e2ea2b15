"""Your labelled texts as a CSV or TSV file with a header row, read a row at a time.

Read strictly: whatever Python's csv module would read in more than one way
is refused, with the line and the fix. A quote that never closes would
otherwise swallow the rest of the file into one text; a repeated column name
would make one of the columns win silently; a file that is compressed, in
UTF-16, or split by another delimiter than the suffix says would read as
something else. A byte-order mark decides the encoding.
"""

import codecs
import csv
from collections import Counter
from pathlib import Path
from typing import Iterator

from stages.runner.process import StageError

# Byte-order marks, longest first (UTF-32's little-endian one begins as UTF-16's).
BYTE_ORDER_MARKS = [(codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                    (codecs.BOM_UTF16_BE, "utf-16")]
COMPRESSED = [(b"\x1f\x8b", "gzip", "gunzip"), (b"PK\x03\x04", "zip", "unzip"),
              (b"BZh", "bzip2", "bunzip2"), (b"\xfd7zXZ\x00", "xz", "unxz")]
DELIMITERS = [",", ";", "\t", "|"]


def delimiter_of(path: Path, delimiter: str | None) -> str | None:
    """`load.delimiter`, or the one the suffix names: .csv a comma, .tsv a tab."""
    return delimiter or {".csv": ",", ".tsv": "\t"}.get(path.suffix.lower())


def codec_of(path: Path, encoding: str) -> str:
    """The codec to read `path` with: its byte-order mark's, if it starts with one (a
    spreadsheet's "Unicode text" is UTF-16 with a mark), else `encoding`. A compressed
    file is refused."""
    with open(path, "rb") as file:
        start = file.read(8)
    for magic, kind, tool in COMPRESSED:
        if start.startswith(magic):
            raise StageError(f"{path} is compressed ({kind}): {tool} it first, and point "
                             "load.path (or load.test_path) at the file it gives")
    for mark, codec in BYTE_ORDER_MARKS:
        if start.startswith(mark):
            if codecs.lookup(codec).name != codecs.lookup(encoding).name and not (
                    codec == "utf-8-sig" and codecs.lookup(encoding).name == "utf-8"):
                print(f"{path} starts with a {codec.removesuffix('-sig')} byte-order mark: "
                      f"read as {codec.removesuffix('-sig')}, not load.encoding {encoding}")
            return codec
    return encoding


def bad_line(path: Path, encoding: str) -> str:
    """`, line N,` of the first line of `path` not valid in `encoding` (when lines can tell)."""
    with open(path, "rb") as file:
        for number, line in enumerate(file, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return f", line {number},"
    return ""


def check_header(path: Path, header: list[str], wanted: dict[str, str], delimiter: str,
                 like: Path | None) -> list[str]:
    """The header's column names, refused if one repeats or one of `wanted` (the params'
    column names, by key) is missing; `like` is the training file a test file must match."""
    columns = [name.strip() for name in header]
    repeated = [name for name, times in Counter(columns).items() if times > 1]
    if repeated:
        raise StageError(f"{path}: the header names {', '.join(map(repr, repeated))} more "
                         "than once; give each column a name of its own")
    for key, name in wanted.items():
        if name in columns:
            continue
        line = delimiter.join(header)
        for other in DELIMITERS:
            if other != delimiter and name in [part.strip() for part in line.split(other)]:
                raise StageError(f"{path} has no column {name!r} in a header split on "
                                 f"{delimiter!r}, but its header splits on {other!r}: set "
                                 f"load.delimiter: {other!r}")
        if like is not None:
            raise StageError(f"{path} has no column {name!r} (load.{key}), which {like} has; "
                             "its columns are " + ", ".join(map(repr, columns))
                             + ": give both files the same header")
        raise StageError(f"{path} has no column {name!r} (load.{key}); its columns are "
                         + ", ".join(map(repr, columns)) + f": set load.{key} to one of them")
    return columns


def swallowed_rows(row: list[str], delimiter: str, width: int, label_at: int,
                   labels: set[str]) -> int:
    """How many lines inside the fields of `row` read as rows of their own: as many fields
    as the header, and a label seen before. Two or more say that a quote opened in this
    row closes only rows later."""
    lines = [line for field in row if "\n" in field for line in field.splitlines()[1:]]
    return sum(1 for fields in csv.reader(lines, delimiter=delimiter)
               if len(fields) == width and fields[label_at].strip() in labels)


def csv_rows(path: Path, text_column: str, label_column: str, encoding: str,
             delimiter: str | None, like: Path | None = None,
             ) -> Iterator[tuple[str, str | None, str]]:
    """(label, text, where) of every row of a CSV or TSV file with a header row; `like`: the
    training file, when `path` is the test file."""
    delimiter = delimiter_of(path, delimiter)
    if delimiter is None:
        raise StageError(f"{path}: a .csv or .tsv file was expected; name it so, or set "
                         "load.delimiter to the character between its fields")
    codec = codec_of(path, encoding)
    csv.field_size_limit(2 ** 31 - 1)  # texts longer than csv's default 128 KB
    rows, line, labels = 0, 1, set()
    try:
        with open(path, newline="", encoding=codec) as file:
            reader = csv.reader(file, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                raise StageError(f"{path} is empty: it needs a header row naming its columns, "
                                 "then one row per text")
            columns = check_header(path, header, {"text_column": text_column,
                                                  "label_column": label_column}, delimiter, like)
            text_at, label_at = columns.index(text_column), columns.index(label_column)
            line = reader.line_num + 1  # where the next row starts
            for row in reader:
                if row and len(row) != len(columns):
                    raise StageError(
                        f"{path}, line {line}: {len(row)} fields, but the header has "
                        f"{len(columns)}; a field with {delimiter!r}, a quote or a line break "
                        'in it must be in double quotes ("like, this")')
                if reader.line_num > line and swallowed_rows(row, delimiter, len(columns),
                                                             label_at, labels) >= 2:
                    raise StageError(
                        f"{path}, line {line}: a quote opened on this line closes only on line "
                        f"{reader.line_num}, and the lines between read as rows: close the "
                        'quote, or double each quote inside a quoted field ("")')
                if row:  # not a blank line
                    rows += 1
                    labels.add(row[label_at].strip())
                    yield row[label_at].strip(), row[text_at], f"{path}, line {line}"
                line = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise StageError(f"{path}{bad_line(path, codec)} is not valid {encoding} "
                         f"text ({error.reason}): set load.encoding to the file's encoding "
                         "(cp1252 and latin-1 are common for spreadsheets' exports)")
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise StageError(f"{path}, line {line}: a quote opened on this line never closes, "
                             "so the rest of the file would be one text: close it, or double "
                             'each quote inside a quoted field ("")')
        raise StageError(f"{path}, line {reader.line_num}: {error}; a quote inside a quoted "
                         'field must be doubled ("")')
    if not rows:
        raise StageError(f"{path} has a header row but no rows of data")
