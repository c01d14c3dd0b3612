"""Alerting shared by the stream workers and the CLI: rules, measures, silences, stored events."""
