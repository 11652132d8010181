"""Keys: encryption of personal data, the master key ring, the key store, and master-key rotation."""
