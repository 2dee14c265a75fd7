"""Research: reliability."""
