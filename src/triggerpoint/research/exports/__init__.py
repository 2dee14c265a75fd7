"""Research: de-identified exports (REDCap, CDISC ODM 1.3.2, Parquet)."""
