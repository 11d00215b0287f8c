"""The e-invoice check from two threads at once in a fresh process, as the worker runs it
(`asyncio.to_thread`, one thread per send). Without a lock around libxml2's schema work, about
one fresh process in eight failed a good document ("XMLSchemaParseError: Internal error:
xmlSchemaPValAttrNodeValue, the given type is not a built-in type") or crashed, and the worker
deferred good sends. Each round is a new process: the race is at the first schema compile."""

from __future__ import annotations

import subprocess
import sys

from services.documents.ubl import render_invoice_ubl
from tests.harness import documents as samples

FRESH_PROCESSES = 12
PROGRAM = """
import json, sys, threading
from services.documents.validation import check_ubl_documents
document = sys.stdin.read().encode()
verdicts = []
threads = [threading.Thread(target=lambda: verdicts.append(check_ubl_documents([document])[0].ok)) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(verdicts))
"""


def test_two_threads_checking_good_e_invoices_at_once_both_pass_in_a_fresh_process() -> None:
    good = render_invoice_ubl(samples.document()).decode()
    for _ in range(FRESH_PROCESSES):
        done = subprocess.run([sys.executable, "-c", PROGRAM], input=good, capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout.strip()) == (0, "[true, true]"), done.stderr[-2000:]
