"""The transparency report: DSA Art. 15 / 24 figures for a period, computed by SQL."""
