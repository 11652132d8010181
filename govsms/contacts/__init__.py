"""Contacts and contact groups: recipient files read on upload and written on export."""
