"""Which database the suite runs on: PostgreSQL when TEST_DATABASE_URL names one, else SQLite files."""

from __future__ import annotations

import os

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
