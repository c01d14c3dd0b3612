"""Reference data: agencies (by administrative scheme), NDXP services, procedures, categories.

The CSV files under `data/` note their sources in `data/SOURCES.md`.
"""
