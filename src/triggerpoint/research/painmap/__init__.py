"""Research: painmap."""
