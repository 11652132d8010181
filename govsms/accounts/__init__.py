"""Customer accounts, users, roles and permissions, login sessions and API keys."""
