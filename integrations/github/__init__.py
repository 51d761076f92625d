"""GitHub: webhook deliveries in, and (later) the REST API through PyGithub."""
