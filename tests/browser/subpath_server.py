"""Launcher for the browser tests: the route set and the official frontend under a URL prefix.

`toucan-nb serve` has no flag for a URL prefix (only `ApiSettings.base_path` has one), so this
script builds what serve builds (a started `Runtime` plus `make_app`) with
``ApiSettings(base_path=<prefix>, frontend_root=<the installed bundle>)`` and serves it on
127.0.0.1:<port> until SIGTERM/SIGINT. It prints ``listening on <port>`` once the socket is bound
and ``ready`` once the runtime has started.

    python tests/browser/subpath_server.py --port 8199 --base-path /toucan/ --base-directory DIR

Main thread only: the IO loop runs on it; the runtime's executor runs on its own thread.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


async def serve(port: int, base_path: str, base_dir: str) -> int:
    from tornado.httpserver import HTTPServer

    from toucan_nb.api.app import ApiSettings, close_app, make_app, server_options
    from toucan_nb.api.frontend import default_frontend_root
    from toucan_nb.host.assembly import start_runtime
    from toucan_nb.runtime.runtime import Runtime, RuntimeConfig

    root = default_frontend_root()
    if root is None:
        print("comfyui-frontend-package is not installed", file=sys.stderr, flush=True)
        return 2
    runtime = start_runtime(Runtime(RuntimeConfig(base_dir=base_dir, cpu=True)))
    settings = ApiSettings(base_path=base_path, frontend_root=root)
    app = make_app(runtime, settings)  # inside the running loop, as make_app requires
    server = HTTPServer(app, **server_options(settings))
    server.listen(port, "127.0.0.1")
    print(f"listening on {port}", flush=True)
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.stop()
        close_app(app)
        await loop.run_in_executor(None, runtime.stop)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--base-path", default="/toucan/")
    parser.add_argument("--base-directory", required=True)
    args = parser.parse_args()
    return asyncio.run(serve(args.port, args.base_path, args.base_directory))


if __name__ == "__main__":
    sys.exit(main())
