"""One call's life: the client, streaming, retries, timeouts, fallbacks and what a call reports."""
