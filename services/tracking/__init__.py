"""The tracking context: what happened to an email after it was sent."""
