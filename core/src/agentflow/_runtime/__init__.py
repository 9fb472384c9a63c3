"""The process-wide state: the active configuration, the model registry, pools and limits."""
