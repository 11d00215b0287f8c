"""JSON from outside (Slack payloads, provider webhooks, button values), read within limits.

`json.loads` alone lets a stranger choose the cost: 100,000 nested brackets end in a
`RecursionError` (a 500 with a traceback), a 10^20 page number overflows a database
integer, `NaN` and `1e999` are not numbers anyone sends us. Every JSON document that
arrives from outside goes through `load_untrusted_json`, which turns each of these into
one `UntrustedJsonError` with a sentence the edge can answer with (400, a modal error,
an ephemeral message). Callers check the size of the raw bytes before reading them.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
"""Nesting of arrays and objects; Slack's and the providers' payloads stay under 10."""
MAX_INTEGER_DIGITS = 20
"""Room for 64-bit ids (Postmark's are 19 digits); 10^20 and beyond are nobody's id."""
MAX_NUMBER_CHARS = 40


class UntrustedJsonError(ValueError):
    """The text is not JSON, or it is JSON past one of the limits; the message says which."""


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise UntrustedJsonError(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)


def _real(literal: str) -> float:
    value = float(literal) if len(literal) <= MAX_NUMBER_CHARS else float("inf")
    if value in (float("inf"), float("-inf")):
        raise UntrustedJsonError("a number is too large")
    return value


def _constant(name: str) -> Any:
    raise UntrustedJsonError(f"{name} is not a JSON number")


def _check_text(value: str) -> None:
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a "\\ud800" escape: text no database or signature can encode
            raise UntrustedJsonError("a string holds an unpaired surrogate") from None


def _check_document(document: Any) -> None:
    """Iterative (no recursion to exhaust): depth within MAX_DEPTH, every string encodable."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
            continue
        if isinstance(value, dict):
            for key in value:
                _check_text(key)
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise UntrustedJsonError(f"it is nested more than {MAX_DEPTH} levels deep")
        pending.extend((child, depth + 1) for child in children)


def load_untrusted_json(text: str | bytes) -> Any:
    """The decoded document; UntrustedJsonError when it is not UTF-8 JSON within the limits."""
    try:
        document = json.loads(text, parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except UntrustedJsonError:
        raise
    except RecursionError:
        raise UntrustedJsonError(f"it is nested more than {MAX_DEPTH} levels deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UntrustedJsonError("it is not valid JSON") from exc
    _check_document(document)
    return document


def load_untrusted_object(text: str | bytes) -> dict[str, Any]:
    """`load_untrusted_json`, refusing anything but a JSON object at the top."""
    document = load_untrusted_json(text)
    if not isinstance(document, dict):
        raise UntrustedJsonError("it is not a JSON object")
    return document
