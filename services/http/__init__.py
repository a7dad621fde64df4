"""The HTTP/JSON API and web view in front of the gateway (FastAPI on uvicorn): ``ser serve http``."""
