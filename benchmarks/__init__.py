"""Side-by-side benchmarks of auth-store's backends and their raw baselines.

Run with ``python -m benchmarks`` (``make bench``); see docs/benchmarks.md.
"""
