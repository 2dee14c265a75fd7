"""Research: ltr."""
