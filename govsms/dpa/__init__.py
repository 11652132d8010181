"""The data processing agreement: generated from live configuration, versioned, accepted in the app."""
