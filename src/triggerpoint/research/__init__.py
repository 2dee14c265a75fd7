"""The research registry: palpation reliability studies, pain-map analytics, the twitch
analysis, and de-identified exports in the shapes research tools read (REDCap, CDISC ODM,
Parquet). Each part is a folder of its own; `router.py` gathers their routes."""
