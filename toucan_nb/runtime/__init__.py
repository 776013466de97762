"""The graph runtime: validation, scheduling, caching, progress and events.

Knows nothing of HTTP or Jupyter (docs/protocol.md is the api package's business); docs/execution.md is the spec.
"""
