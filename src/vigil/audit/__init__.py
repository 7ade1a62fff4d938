"""Append-only, hash-chained audit log of every change and every view of personal data."""
