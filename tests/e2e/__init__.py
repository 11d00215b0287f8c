"""End-to-end tests through the real web app, Bolt app and slack_sdk client."""
