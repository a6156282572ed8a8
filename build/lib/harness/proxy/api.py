"""The Toxiproxy HTTP API (v2.12.0) over the embedded server, on aiohttp.web.

Same paths, methods, JSON shapes and status codes as the real server, so toxiproxy-python, the
`toxiproxy-cli` and any other Toxiproxy client work unchanged. Errors are `{"error", "status"}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from harness.proxy.apierror import ApiError
from harness.proxy.server import VERSION, ProxyServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"error": message, "status": status, **extra}, status)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"bad request body: {exc}") from None


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        extra = {"proxies": None} if request.path == "/populate" else {}
        return _error(exc.status, exc.message, **extra)


def build_app(server: ProxyServer) -> web.Application:
    """The aiohttp application serving `server`; every mutating call holds the server's lock."""
    routes = web.RouteTableDef()

    @routes.get("/version")
    async def version(request: web.Request) -> web.Response:
        return _json({"version": VERSION})

    @routes.get("/proxies")
    async def list_proxies(request: web.Request) -> web.Response:
        return _json({name: p.to_json() for name, p in server.proxies.items()})

    @routes.post("/proxies")
    async def create_proxy(request: web.Request) -> web.Response:
        body = await _body(request)
        async with server.lock:
            proxy = await server.create(body)
        return _json(proxy.to_json(), 201)

    @routes.post("/populate")
    async def populate(request: web.Request) -> web.Response:
        body = await _body(request)
        async with server.lock:
            proxies = await server.populate(body)
        return _json({"proxies": [p.to_json() for p in proxies] or None}, 201)

    @routes.post("/reset")
    async def reset(request: web.Request) -> web.Response:
        async with server.lock:
            await server.reset()
        return web.Response(status=204)

    @routes.get("/proxies/{proxy}")
    async def get_proxy(request: web.Request) -> web.Response:
        return _json(server.get(request.match_info["proxy"]).to_json())

    @routes.route("POST", "/proxies/{proxy}")
    @routes.route("PATCH", "/proxies/{proxy}")
    async def update_proxy(request: web.Request) -> web.Response:
        body = await _body(request)
        async with server.lock:
            proxy = await server.update(request.match_info["proxy"], body)
        return _json(proxy.to_json())

    @routes.delete("/proxies/{proxy}")
    async def delete_proxy(request: web.Request) -> web.Response:
        async with server.lock:
            await server.delete(request.match_info["proxy"])
        return web.Response(status=204)

    @routes.get("/proxies/{proxy}/toxics")
    async def list_toxics(request: web.Request) -> web.Response:
        proxy = server.get(request.match_info["proxy"])
        return _json([t.to_json() for t in proxy.toxics.values()])

    @routes.post("/proxies/{proxy}/toxics")
    async def add_toxic(request: web.Request) -> web.Response:
        body = await _body(request)
        async with server.lock:
            toxic = server.add_toxic(request.match_info["proxy"], body)
        return _json(toxic.to_json())

    @routes.get("/proxies/{proxy}/toxics/{toxic}")
    async def get_toxic(request: web.Request) -> web.Response:
        return _json(server.get_toxic(request.match_info["proxy"], request.match_info["toxic"]).to_json())

    @routes.route("POST", "/proxies/{proxy}/toxics/{toxic}")
    @routes.route("PATCH", "/proxies/{proxy}/toxics/{toxic}")
    async def update_toxic(request: web.Request) -> web.Response:
        body = await _body(request)
        async with server.lock:
            toxic = server.update_toxic(request.match_info["proxy"], request.match_info["toxic"], body)
        return _json(toxic.to_json())

    @routes.delete("/proxies/{proxy}/toxics/{toxic}")
    async def delete_toxic(request: web.Request) -> web.Response:
        async with server.lock:
            server.remove_toxic(request.match_info["proxy"], request.match_info["toxic"])
        return web.Response(status=204)

    app = web.Application(middlewares=[_errors])
    app.add_routes(routes)

    async def close_proxies(app: web.Application) -> None:
        await server.close()

    app.on_cleanup.append(close_proxies)
    return app
