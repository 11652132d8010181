"""The access and event log: who did what to which person's data, hash-chained and signed."""
