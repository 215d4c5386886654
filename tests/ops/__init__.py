"""Operator tests: the apply/produce/matches/status commands and lag reporting."""
