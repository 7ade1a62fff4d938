"""Emerging clusters: new groups of similar reports and flagged messages (docs/clusters.md)."""
