"""Worker tests: checkpoints, restarts, derived streams, hot statement changes, crashes."""
