"""Text signals: contact details and off-platform payment, scam/spam and abuse models."""
