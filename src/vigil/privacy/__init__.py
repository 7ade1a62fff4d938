"""Privacy: legal holds, retention of personal data, erasure and access requests."""
