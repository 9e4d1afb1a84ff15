"""``create_app(settings)``: the FastAPI application, with its OpenAPI page at /docs."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from . import errors
from .config import ServiceSettings
from .core import Service
from .limits import BodyLimit
from .routes import public, router


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service on ``settings`` (default: the environment's models dir and store, authentication on)."""
    settings = settings or ServiceSettings()
    svc = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(title="keras-explain", summary="Explanations of Keras models over HTTP: LIME, SHAP, CAM, gradients.",
                  version="0.1.0", lifespan=lifespan)
    app.state.service = svc
    errors.install(app)
    app.include_router(public)
    app.include_router(router)
    if settings.cors_origins:  # closed unless the operator names the origins
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_body_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes)
    return app
