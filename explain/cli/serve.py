"""``explain serve``: the HTTP service (FastAPI on uvicorn), authentication on unless ``--no-auth`` on localhost."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import models_dir


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="start the HTTP explanation service (OpenAPI page at /docs)",
                                description="Serve explanations over HTTP on the same engine, store and models as the "
                                "dashboard. Bearer tokens come from --token-file or $EXPLAIN_SERVICE_TOKENS.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token-file", help="bearer tokens, one a line")
    serve.add_argument("--no-auth", action="store_true", help="no authentication (only on 127.0.0.1 / localhost)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="allow browser calls from this origin (repeatable; default: none)")
    serve.add_argument("--store", help="the explanation store (default: $EXPLAIN_STORE, else <models dir>/explanations.sqlite)")
    serve.add_argument("--workers", type=int, default=1, help="job worker threads (default: 1)")
    serve.add_argument("--sync-threads", type=int, default=2, help="threads computing synchronous requests (default: 2)")
    serve.add_argument("--queue-limit", type=int, default=100, help="queued jobs before 429 (default: 100)")
    serve.add_argument("--max-upload-mb", type=float, default=200, help="largest .keras upload (default: 200)")
    serve.add_argument("--max-batch", type=int, default=16, help="inputs per synchronous request (default: 16)")
    serve.add_argument("--batch-window-ms", type=float, default=5.0,
                       help="how long a gradient/CAM request waits to share a batch (0: off; default: 5)")
    serve.add_argument("--scheduler", metavar="ADDRESS", help="run jobs on this Dask scheduler (default: in this process)")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..service import ServiceSettings, check_startable, create_app, read_tokens

    settings = ServiceSettings(
        models_dir=models_dir(args.models_dir), store=Path(args.store) if args.store else None,
        tokens=read_tokens(args.token_file), no_auth=args.no_auth, host=args.host,
        cors_origins=tuple(o for o in args.cors_origin if o), workers=args.workers, sync_threads=args.sync_threads,
        queue_limit=args.queue_limit, max_upload_bytes=int(args.max_upload_mb * (1 << 20)), max_batch=args.max_batch,
        batch_window_s=args.batch_window_ms / 1000, scheduler=args.scheduler,
    )
    check_startable(settings)  # a StartupRefused (ValueError) is a one-line error and exit status 2
    auth = "off (--no-auth)" if settings.no_auth else f"{len(settings.tokens)} bearer token(s)"
    print(f"explain serve on http://{args.host}:{args.port} (docs: /docs; auth: {auth}; store: {settings.store_file})",
          flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    return 0
