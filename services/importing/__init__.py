"""The importing context: a CSV or JSON file in, invoices and customers out, all or nothing.

`loader` is the use case (`invoicebot import FILE`); `csv_rows` and `json_rows` read a file
within `limits` into `records`; `address` reads postal addresses; `store` writes the plan
in bulk. It builds on invoicing only (contract in pyproject.toml).
"""
