"""The invoicing context: invoices, customers, their states and totals."""
