"""Staff users, roles and permissions, console sessions and API keys."""
