"""A realistic two-sided marketplace with known bad actors: demo content, load, labels."""
