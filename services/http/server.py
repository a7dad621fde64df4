"""``ser serve http``: the HTTP/JSON API on uvicorn (SER_HTTP_HOST:SER_HTTP_PORT, default 127.0.0.1:8080)."""
from __future__ import annotations

import uvicorn

from services.common.logs import configure_logging
from services.http.app import create_app
from shared.settings import Settings


def main(port: int | None = None) -> None:
    settings = Settings.from_env()
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port if port is None else port,
                log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
