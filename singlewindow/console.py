"""What every command of the command line shares: the terminal and the gateway's client."""

from __future__ import annotations

import httpx
from rich.console import Console

from services.common.settings import Settings

console = Console()
notes = Console(stderr=True)


def gateway_client(gateway: str | None, api_key: str | None) -> httpx.Client:
    """An HTTP client of the gateway (default URL and API key from the SW_ settings)."""
    settings = Settings()
    return httpx.Client(
        base_url=gateway or settings.url_of("gateway"),
        timeout=10,
        headers={"Authorization": f"Bearer {api_key or settings.demo_api_key}"},
    )
