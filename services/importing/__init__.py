"""The importing context: a CSV or JSON file in, invoices and customers out."""
