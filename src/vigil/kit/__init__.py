"""Small, generic building blocks shared by every domain."""
