"""Alias of ComfyUI's `comfy_execution.graph_utils`: the very objects of toucan_nb.runtime.graph_utils."""

from __future__ import annotations

from toucan_nb.runtime.graph_utils import ExecutionBlocker, GraphBuilder, Node, add_graph_prefix, is_link

__all__ = ["ExecutionBlocker", "GraphBuilder", "Node", "add_graph_prefix", "is_link"]
