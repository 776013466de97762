"""The standalone server: the route set and a runtime in one process (`toucan-nb serve`).

Order of start-up, so connections are accepted within a second or two: parse flags, bind the
sockets, serve; the runtime is assembled and started (`host.assembly.start_runtime`: node loading
imports torch) on a helper thread meanwhile,
and requests that arrive before it is ready wait for it (`make_app(startup=...)`). SIGINT/SIGTERM
stop the server and the runtime. Main thread: `run`; the IO loop runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
import os
import signal
import sys
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toucan_nb.runtime.runtime import Runtime

log = logging.getLogger("toucan_nb.serve")


class StartupError(Exception):
    """The flags name something that cannot be served (message is for the user)."""


@dataclass
class ServeOptions:
    """What `run` needs, derived from the flags."""

    addresses: list[str]
    port: int
    frontend_root: str | None
    runtime_config: Any
    extra_model_paths: list[str] = field(default_factory=list)
    cors_origin: str | None = None
    max_upload_size_mb: int | float = 100
    multi_user: bool = False
    argv: tuple[str, ...] = ()
    quick_test: bool = False


def configure_logging(args: argparse.Namespace) -> None:
    stream = sys.stdout if args.log_stdout else sys.stderr
    # No force=True: an embedding process (or pytest) keeps its handlers.
    logging.basicConfig(stream=stream, format="%(message)s")
    logging.getLogger().setLevel(getattr(logging, args.verbose))
    # Like ComfyUI, no line per request unless debugging; failed requests still show.
    access = logging.DEBUG if args.verbose == "DEBUG" else logging.WARNING
    logging.getLogger("tornado.access").setLevel(logging.ERROR if args.dont_print_server else access)


def resolve_frontend(args: argparse.Namespace, base_dir: str) -> str | None:
    """--front-end-root, else --front-end-version (local only), else the installed package."""
    from toucan_nb.api import frontend
    from toucan_nb.host.cli import DEFAULT_FRONTEND_VERSION

    if args.front_end_root:
        given: str = os.path.abspath(args.front_end_root)
        if not os.path.isdir(given):
            raise StartupError(f"--front-end-root {args.front_end_root}: not a directory")
        return given
    if args.front_end_version != DEFAULT_FRONTEND_VERSION:
        try:
            return frontend.custom_version_root(base_dir, args.front_end_version)
        except frontend.FrontendNotFoundError as exc:
            raise StartupError(str(exc)) from None
    root = frontend.default_frontend_root()
    if root is None:
        log.warning("comfyui-frontend-package is not installed: serving the API without the web UI")
    return root


def options_from_args(args: argparse.Namespace, argv: tuple[str, ...] = ()) -> ServeOptions:
    """Map ComfyUI's flags onto RuntimeConfig and the server (raises StartupError)."""
    from toucan_nb.runtime.runtime import RuntimeConfig

    base_dir = os.path.abspath(args.base_directory or os.getcwd())
    if args.user_directory and not os.path.isdir(args.user_directory):
        raise StartupError(f"--user-directory {args.user_directory}: not a directory")
    cache_mode, cache_size, headroom = "classic", 0, 4.0
    if args.cache_none:
        cache_mode = "none"
    elif args.cache_lru:
        cache_mode, cache_size = "lru", args.cache_lru
    elif args.cache_ram:
        cache_mode, headroom = "ram", float(args.cache_ram)
    if args.cuda_device is not None:
        # ComfyUI hides every other GPU; torch is not imported yet, so this still takes effect.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.cuda_device)
    device = None if args.default_device is None or args.cpu else f"cuda:{args.default_device}"
    config = RuntimeConfig(
        base_dir=base_dir,
        input_dir=_abs(args.input_directory),
        output_dir=_abs(args.output_directory),
        # As ComfyUI: --temp-directory X means X/temp (the runtime empties it at start-up).
        temp_dir=None if args.temp_directory is None else os.path.join(os.path.abspath(args.temp_directory), "temp"),
        user_dir=_abs(args.user_directory),
        models_dir=_abs(args.models_directory),
        cache_mode=cache_mode,
        cache_size=cache_size,
        ram_headroom_gb=headroom,
        preview_method=args.preview_method,
        preview_size=args.preview_size,
        max_upload_size_mb=args.max_upload_size,
        device=device,
        cpu=args.cpu,
        disable_all_custom_nodes=args.disable_all_custom_nodes,
        multi_user=args.multi_user,
        disable_metadata=args.disable_metadata,
        persist=not args.no_persist,
        ray=args.ray,
        ray_workers=args.ray_workers,
        ray_num_gpus=args.ray_num_gpus,
        # Started from a ComfyUI checkout (a main.py there that launches us, as ComfyUI's own test
        # harness does), custom nodes must still reach this server, not ComfyUI's unstarted one.
        shadow_real_comfyui=True,
    )
    extra = [path for group in (args.extra_model_paths_config or []) for path in group]
    for path in extra:
        if not os.path.isfile(path):
            raise StartupError(f"--extra-model-paths-config {path}: no such file")
    addresses = [a.strip() for a in args.listen.split(",") if a.strip()] or ["127.0.0.1"]
    return ServeOptions(
        addresses=addresses,
        port=args.port,
        frontend_root=resolve_frontend(args, base_dir),
        runtime_config=config,
        extra_model_paths=extra,
        cors_origin=args.enable_cors_header,
        max_upload_size_mb=args.max_upload_size,
        multi_user=args.multi_user,
        argv=argv,
        quick_test=args.quick_test_for_ci,
    )


def _abs(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def make_runtime(options: ServeOptions) -> Runtime:
    """The (not yet started) runtime, with extra model paths applied."""
    from toucan_nb.runtime.loader import apply_extra_model_paths
    from toucan_nb.runtime.runtime import Runtime

    runtime = Runtime(options.runtime_config)
    for path in options.extra_model_paths:
        try:
            custom_nodes = apply_extra_model_paths(runtime.folders, path)
        except Exception as exc:
            raise StartupError(f"--extra-model-paths-config {path}: {exc}") from exc
        runtime.config.custom_node_dirs.extend(custom_nodes)
    return runtime


def _bind(addresses: list[str], port: int) -> list[Any]:
    from tornado.netutil import bind_sockets

    sockets: list[Any] = []
    for address in addresses:
        try:
            sockets += bind_sockets(port, address)
        except OSError as exc:
            if address == "::" and sockets:
                log.warning("could not listen on [::]:%s (%s); IPv4 only", port, exc.strerror)
                continue
            for s in sockets:
                s.close()
            raise StartupError(f"cannot listen on {address}:{port}: {exc.strerror}") from None
        if port == 0:
            port = sockets[0].getsockname()[1]  # the same free port for every address
    return sockets


async def serve(options: ServeOptions, runtime: Runtime) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    from tornado.httpserver import HTTPServer

    from toucan_nb.api.app import ApiSettings, close_app, make_app, server_options
    from toucan_nb.host.assembly import start_runtime

    settings = ApiSettings(cors_origin=options.cors_origin, frontend_root=options.frontend_root,
                           max_upload_size_mb=options.max_upload_size_mb, multi_user=options.multi_user,
                           argv=options.argv)
    startup: concurrent.futures.Future[Any] = concurrent.futures.Future()
    app = make_app(runtime, settings, startup=startup)
    sockets = _bind(options.addresses, options.port)
    server = HTTPServer(app, **server_options(settings))
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    shown = "127.0.0.1" if options.addresses[0] in ("0.0.0.0", "::") else options.addresses[0]
    shown = f"[{shown}]" if ":" in shown else shown
    log.info("Starting server\n\nTo see the GUI go to: http://%s:%s", shown, port)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass

    def start() -> None:
        try:
            startup.set_result(start_runtime(runtime))
        except BaseException as exc:  # reported below; the server then exits
            startup.set_exception(exc)
        loop.call_soon_threadsafe(lambda: None)

    threading.Thread(target=start, name="toucan-startup", daemon=True).start()
    status = 0
    try:
        await asyncio.wrap_future(startup)
        log.info("toucan-nb is ready: %d node classes", len(runtime.registry))
        if not options.quick_test:
            await stop.wait()
    except Exception:
        log.exception("the runtime failed to start")
        status = 1
    finally:
        server.stop()
        close_app(app)
        await asyncio.get_running_loop().run_in_executor(None, runtime.stop)
    return status


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run the server coroutine on uvloop where it is installed (Linux, macOS), else asyncio's loop.

    Its libuv core wakes up faster: sequential GETs went from ~940 to ~1,650 a second on the
    2-core test VM.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def run(args: argparse.Namespace) -> int:
    """Run the standalone server for parsed flags; returns the exit status."""
    from toucan_nb.host.cli import ignored_flags_given

    configure_logging(args)
    for flag in ignored_flags_given(args):
        log.warning("%s is a ComfyUI flag that does not apply to toucan-nb; ignored", flag)
    # The IO loop and the executor thread hand work to each other all the time; CPython's default
    # 5 ms GIL switch interval would add up to 5 ms to each handover while a prompt runs.
    sys.setswitchinterval(0.0005)
    try:
        options = options_from_args(args, tuple(sys.argv))
        runtime = make_runtime(options)
        return _run_loop(serve(options, runtime))
    except StartupError as exc:
        log.error("toucan-nb: %s", exc)
        return 2
    except KeyboardInterrupt:
        return 0
