"""Detection: the marketplace's events, the features computed from them, rules and models,
and the decision each event gets (allow, review, block)."""
