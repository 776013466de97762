"""The graph runtime: validation, scheduling, caching, progress and events.

Knows nothing of HTTP or Jupyter (protocol.md is the api package's business); execution.md is the spec.
"""
