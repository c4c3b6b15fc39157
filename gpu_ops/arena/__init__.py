"""arena room."""
