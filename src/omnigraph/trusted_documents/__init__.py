"""Trusted documents: automatic persisted queries, and an allow-list of registered operations."""
