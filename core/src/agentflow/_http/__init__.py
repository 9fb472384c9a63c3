"""HTTP plumbing: pooled httpx clients per provider and event loop, and httpx errors mapped to
ours.
"""
