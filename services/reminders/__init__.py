"""Reminders (issue 14): ladders as data, stop rules, the planner and the exactly-once producer;
what a reminder says (content) and which of its invoices are still owed when it goes (owed)."""
