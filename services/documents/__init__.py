"""Invoice documents (shared kernel): the PDF, the UBL e-invoice and the link page, from one model.

`model` is everything a document shows as one plain value; `pdf`, `ubl` and `page` render it
in the reader's locale (`formats`, `labels`); `validation` checks UBL offline; `cache` keeps
rendered documents by digest.
"""
