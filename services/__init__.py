"""The domain of invoicebot: plain Python over a database session. Knows nothing of Slack."""
