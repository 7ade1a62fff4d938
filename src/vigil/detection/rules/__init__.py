"""Detection rules: CEL expressions, versioned, with shadow mode and backtests."""
