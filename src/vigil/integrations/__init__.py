"""Marketplace integrations: signed webhooks, delivered at least once, every attempt logged."""
