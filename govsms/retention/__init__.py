"""Data categories and storage times: what govsms keeps, and for how long at most."""
