"""The ComfyUI route set and /ws, written once against the runtime (docs/protocol.md).

`toucan_nb.api.app.make_app(runtime, settings)` builds the tornado Application; the standalone
server, the kernel's loopback endpoint and the Jupyter extension all serve it. Importing this
package imports nothing else.
"""
