"""Decisions on cases and the actions they take: strikes, the ladder, four-eyes, reversals."""
