"""Contract tests of the log and store backends (memory, SQLite, Redis)."""
