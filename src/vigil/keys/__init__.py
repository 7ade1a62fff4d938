"""Field and blob keys: status and rotation (docs/encryption.md)."""
