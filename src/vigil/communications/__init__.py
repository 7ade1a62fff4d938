"""Messages to the marketplace's users: templates per policy, action and locale; channels."""
