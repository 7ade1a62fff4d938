"""Incidents: a trend, alert or cluster escalated into a tracked piece of work that links cases
(docs/incidents.md)."""
