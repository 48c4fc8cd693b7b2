"""FastAPI dependencies shared by the API's routers."""

from __future__ import annotations

import asyncpg
from fastapi import Request


def get_pool(request: Request) -> asyncpg.Pool:
    """The application's asyncpg pool, created in its lifespan."""
    pool: asyncpg.Pool = request.app.state.pool
    return pool
