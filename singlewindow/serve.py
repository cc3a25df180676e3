"""Run one service process: `python -m singlewindow.serve customs [--port N]`."""

from __future__ import annotations

import argparse
import importlib

import uvicorn
from fastapi import FastAPI

from services.common import tracing
from services.common.settings import SERVICES, Settings
from singlewindow.logs import configure

FACTORIES = {
    "gateway": "gateway.app",
    "customs": "services.customs.app",
    "inspection": "services.inspection.app",
    "forex": "services.forex.app",
    "tax": "services.tax.app",
}


def build(service: str, settings: Settings) -> FastAPI:
    """The app of a service, from its composition root."""
    module = importlib.import_module(FACTORIES[service])
    app: FastAPI = module.create_app(settings)
    return app


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build the app, serve it until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="singlewindow.serve")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    configure(settings.log_level, settings.log_format, args.service)
    tracing.setup(args.service, settings.otel_endpoint)
    app = build(args.service, settings)
    port = args.port or settings.port_of(args.service)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        loop=loop,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
