"""The web layer shared by every domain: request context, authentication, guards, pages."""
