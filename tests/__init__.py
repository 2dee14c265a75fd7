"""The test suite. Imported before any conftest, so settings set here reach every test."""

import os

# The suite's shared personas call PDFs, FHIR and suggestions far more often than a person
# could. The per-user limits are tested on their own (tests/accounts/test_rate_limits.py sets
# tight limits per test), so every other test runs with generous ones.
for _group in ("PDF", "FHIR", "SUGGEST"):
    os.environ.setdefault(f"TRIGGERPOINT_RATE_LIMIT_{_group}", "100000/minute")
