"""Reminders (issue 14): ladders as data, stop rules, the planner and the exactly-once producer."""
