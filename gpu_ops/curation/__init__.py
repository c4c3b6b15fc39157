"""curation room."""
