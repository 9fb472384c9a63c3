"""Observability: execution events, the metrics collector, key redaction in logs, the audit
trail.
"""
