"""The plugin host: finding plugins through entry points, loading them, and calling their hooks."""
