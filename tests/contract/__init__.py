"""Contract tests (see conftest.py for when they run)."""
