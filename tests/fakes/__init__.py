"""Stand-ins for the platforms' APIs, served on 127.0.0.1 and spoken to by the real client libraries."""
