"""The bounds an import file is read within, so no file can exhaust memory or the terminal.

A CSV file is streamed: `BoundedLines` hands `csv.reader` one physical line at a time and
refuses a record (one CSV row, which may span lines inside quotes) longer than
`ImportLimits.max_record_chars` before it is ever assembled — 200 MB of trailing empty
cells or one 200 MB field stops after the first megabyte, on the line where the record
starts. A JSON file is size-checked before it is parsed (JSON cannot be decoded in parts
with the standard library), then nesting depth and number length are checked.

`ProblemLog` keeps the first `MAX_PROBLEMS_SHOWN` problems by line and counts the rest,
so 50,000 bad columns print 100 lines and "… and 49,900 more problems", not 15 MB.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

MAX_PROBLEMS_SHOWN = 100
MAX_JSON_DEPTH = 20  # a valid file nests 4 deep (list → invoice → lines → line item)
MAX_NUMBER_CHARS = 40  # a JSON number longer than this is no amount: refused before int() or Decimal()


@dataclass(frozen=True)
class ImportLimits:
    """Settings `INVOICEBOT_IMPORT_MAX_BYTES`, `_MAX_COLUMNS`, `_MAX_FIELD_CHARS` (see bot/config.py)."""

    max_bytes: int = 100_000_000
    max_columns: int = 100
    max_field_chars: int = 10_000

    @property
    def max_record_chars(self) -> int:
        """One CSV row at its widest: every column full, quoted, with its separator."""
        return self.max_columns * (self.max_field_chars + 3)


@dataclass(frozen=True, order=True)
class Problem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ProblemLog:
    """Every problem counted; the `keep` with the lowest line numbers kept (in the order found)."""

    def __init__(self, keep: int = MAX_PROBLEMS_SHOWN) -> None:
        self.keep = keep
        self.count = 0
        self._heap: list[tuple[int, int, Problem]] = []  # (-line, -order, problem): the worst kept on top

    def append(self, problem: Problem) -> None:
        self.count += 1
        item = (-problem.line, -self.count, problem)
        if len(self._heap) < self.keep:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.append(problem)

    def shown(self) -> list[Problem]:
        """The kept problems by line, then in the order they were found."""
        return [problem for _, _, problem in sorted(self._heap, key=lambda item: (-item[0], -item[1]))]

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.shown())


class RecordTooLong(Exception):
    """A CSV record grew past `ImportLimits.max_record_chars` while being read."""


class FileTooLarge(Exception):
    """More text came out of the file than `ImportLimits.max_bytes` allows (a growing file, a pipe)."""


class NotUtf8(Exception):
    """A line holds bytes that are not UTF-8 (seen as the surrogates `surrogateescape` makes of them)."""


_UNDECODABLE = re.compile("[\udc80-\udcff]")


class BoundedLines:
    """The file's lines for `csv.reader`, never more than one record's allowance at a time.

    The stream is opened with `newline=""` (CSV line ends: \\n, \\r\\n or \\r) and
    `errors="surrogateescape"`, so a byte that is not UTF-8 is found on its own line rather
    than failing the first line of an 8 kB read-ahead. `readline` is given a size, so even a
    line with no end is read in bounded pieces. The caller calls `next_record()` after each
    row csv.reader returns.
    """

    def __init__(self, stream: TextIO, limits: ImportLimits) -> None:
        self.stream = stream
        self.max_record_chars = limits.max_record_chars
        self.max_chars = limits.max_bytes  # a character is at least one byte
        self.record_chars = 0
        self.total_chars = 0

    @staticmethod
    def open(path: Path) -> TextIO:
        return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.stream.readline(self.max_record_chars - self.record_chars + 1)
        if not line:
            raise StopIteration
        self.record_chars += len(line)
        self.total_chars += len(line)
        if self.record_chars > self.max_record_chars:
            raise RecordTooLong
        if self.total_chars > self.max_chars:
            raise FileTooLarge
        if _UNDECODABLE.search(line):
            raise NotUtf8
        return line

    def next_record(self) -> None:
        self.record_chars = 0
