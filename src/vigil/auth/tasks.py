"""Auth jobs and periodic tasks."""
