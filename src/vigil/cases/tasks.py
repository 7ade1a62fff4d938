"""Case jobs and periodic tasks."""
