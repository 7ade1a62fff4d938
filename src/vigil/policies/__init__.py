"""The policy catalog: what is not allowed, how severe it is, and what to do about it."""
