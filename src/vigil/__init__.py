"""Vigil: a Trust & Safety operations platform for online marketplaces."""

__version__ = "0.1.0"
