"""Who is asking: bearer tokens resolved to a principal with roles, checked per field."""
