"""The Slack surface: parse payloads, call one service, build blocks, answer."""
