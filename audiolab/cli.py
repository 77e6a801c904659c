"""The ``audiolab`` command: ``audiolab serve [--host 127.0.0.1] [--port 8000] [--api-key TOKEN]``."""

from __future__ import annotations

import argparse
import sys

from audiolab.errors import AudiolabError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="audiolab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local OpenAI-compatible backend")
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="TCP port (default 8000)")
    serve.add_argument("--api-key", default=None, help="require this bearer token (needed off loopback)")
    serve.add_argument("--cors", default=None, help="comma-separated allowed CORS origins (default: off)")
    serve.add_argument("--preload", default=None, help="comma-separated model ids to load at start")
    args = parser.parse_args(argv)

    from audiolab.server.serve import serve_forever
    from audiolab.server.settings import Settings

    overrides = {"host": args.host, "port": args.port if args.port is not None else None, "api_key": args.api_key}
    if args.cors:
        overrides["cors_origins"] = tuple(o.strip() for o in args.cors.split(",") if o.strip())
    if args.preload:
        overrides["preload"] = tuple(m.strip() for m in args.preload.split(",") if m.strip())
    settings = Settings.from_env(**overrides)
    if settings.port == 0:
        settings = settings.replace(port=8000)
    try:
        print(f"audiolab: serving the OpenAI-compatible API on http://{settings.host}:{settings.port}/v1", flush=True)
        serve_forever(settings)
    except AudiolabError as exc:
        print(f"audiolab: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
