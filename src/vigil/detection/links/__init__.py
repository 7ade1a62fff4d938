"""Linked accounts: the graph of accounts that share identifiers, and its clusters."""
