"""The ``audiolab`` command: ``audiolab serve [--host 127.0.0.1] [--port 8000] [--api-key TOKEN]``,
and ``audiolab eval stt|voices|agent [--backend local|openai|URL] [--output report.html]``."""

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
    serve.add_argument("--tls", action="store_true",
                       help="serve https:// and wss:// with a self-signed localhost certificate (made once)")
    serve.add_argument("--ssl-certfile", default=None, help="serve TLS with this certificate (PEM) instead")
    serve.add_argument("--ssl-keyfile", default=None, help="the private key (PEM) of --ssl-certfile")
    from audiolab.eval.commands import add_eval_parser, run_eval

    add_eval_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "eval":
        try:
            return run_eval(args)
        except AudiolabError as exc:
            print(f"audiolab: {exc.message}", file=sys.stderr)
            return 2

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
        tls = _tls(args, settings)
        scheme = "https" if tls else "http"
        host = "localhost" if tls and tls.ca and settings.is_loopback else settings.host
        print(f"audiolab: serving the OpenAI-compatible API on {scheme}://{host}:{settings.port}/v1",
              flush=True)
        if tls is not None and tls.ca is not None:
            print(f"audiolab: clients trust it with the CA {tls.ca} (Node: NODE_EXTRA_CA_CERTS={tls.ca})",
                  flush=True)
        serve_forever(settings, tls=tls)
    except AudiolabError as exc:
        print(f"audiolab: {exc.message}", file=sys.stderr)
        return 2
    return 0


def _tls(args, settings):
    """The TLS files asked for on the command line (``--tls``, or ``--ssl-certfile/--ssl-keyfile``)."""
    from audiolab.errors import InvalidRequest
    from audiolab.server import tls

    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise InvalidRequest("--ssl-certfile and --ssl-keyfile go together.", param="ssl_keyfile")
    if args.ssl_certfile:
        return tls.user_certificate(args.ssl_certfile, args.ssl_keyfile)
    if args.tls:
        return tls.localhost_certificate(settings.cache_dir / "tls")
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
