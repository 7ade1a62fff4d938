"""Background work: a job table written in the caller's transaction, workers, a scheduler."""
