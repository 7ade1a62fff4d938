"""Identity verification: documents read, checked against the profile, decided or routed to
a person (docs/identity.md)."""
