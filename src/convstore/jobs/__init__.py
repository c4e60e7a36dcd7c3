"""Batch jobs over the catalog: each returns data (outcomes, findings); the CLI renders."""
