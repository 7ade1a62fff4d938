"""Sanctions and PEP screening: lists loaded from files, names screened against them."""
