"""What every request passes before a handler sees it: host, Origin, API key, rate and size, in that order.

:class:`Guard` is an ASGI middleware. For HTTP requests it answers with ``{"error": ...}`` itself, before a byte
of the body is read:

- **Host** (only when the server knows it is bound to loopback): the ``Host`` header must name loopback
  (``127.0.0.1``, ``localhost``, ``[::1]``), so a web page that rebinds its own DNS name to 127.0.0.1 cannot
  talk to the service (403). Requests relayed by a ``--trusted-proxy`` are exempt: the proxy owns the name.
- **Origin**: a request that carries an ``Origin`` header (every browser does on WebSockets and on cross-site
  writes) must come from the server's own origin (the ``Host`` it was reached at) or a ``--cors-origin``;
  otherwise 403. ``Origin: null`` (sandboxed frames, ``file://`` pages) is refused. Requests without ``Origin``
  come from programs, not from web pages, and go on to the key check.
- **API key** on ``/v1/`` routes when keys are required (``X-API-Key``; 401). A key that is sent is checked
  even when keys are not required.
- **Rate**: per key, or per client address without one; 429 with ``Retry-After``. The client address is the
  connection's peer; ``X-Forwarded-For`` is read only when the peer is a ``--trusted-proxy``.
- **Size**: ``Content-Length`` over the route's limit is 413 at once; a body without one (chunked) is counted
  while it is read and cut off with 413 at the limit.

WebSockets go through the same checks (:meth:`Guard.check_websocket`; the key may also come as ``?key=``).
:class:`SecurityHeaders` adds ``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options`` and a
Content-Security-Policy to every HTTP response that has none.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from emolens.serve.config import ServeConfig
    from emolens.serve.keys import KeyStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["Guard", "GuardMiddleware", "RefusedError", "SecurityHeaders", "is_loopback", "parse_proxies"]

#: Room for multipart headers and form fields beside the images a route takes.
BODY_OVERHEAD = 64 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

#: The policy of every response that sets none itself (the dashboard's files and /docs, /redoc set their own:
#: ``emolens.serve.routes.dashboard``, ``emolens.serve.docs``).
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


class RefusedError(Exception):
    """A request refused before its handler: HTTP status, one line, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class BodyTooLarge(HTTPException):
    """Raised while a body is read, once it passes the route's limit (FastAPI answers HTTPExceptions as they are)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit:,} bytes")


def is_loopback(host: str | None) -> bool:
    """Whether a bind address or host name is loopback (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if not host:
        return False
    h = host.strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def parse_proxies(specs: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``--trusted-proxy`` values (addresses or CIDR networks) as networks; a bad one is a ``ValueError``."""
    return [ipaddress.ip_network(s.strip(), strict=False) for s in specs]


class RateLimiter:
    """Sliding one-minute window per client (key id, or address without one)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, who: str, per_minute: int) -> float:
        """0 when the request may go on, else the seconds until it may (for ``Retry-After``)."""
        now = time.monotonic()
        with self._lock:
            q = self._hits[who]
            while q and now - q[0] > 60:
                q.popleft()
            if len(q) >= per_minute:
                return max(60 - (now - q[0]), 0.001)
            q.append(now)
            return 0.0


@dataclass
class Guard:
    """The checks of the module docstring; an ASGI middleware through :meth:`middleware`."""

    cfg: ServeConfig
    keys: KeyStore | None

    def __post_init__(self) -> None:
        self.limiter = RateLimiter()
        self.cors = {o.strip().rstrip("/").lower() for o in self.cfg.cors_origins}
        self.proxies = parse_proxies(self.cfg.trusted_proxies)
        self.loopback_only = is_loopback(self.cfg.host)

    # --- the decisions ------------------------------------------------------------------------------------

    def keys_required(self) -> bool:
        """Decided at start (``require_keys``) or by the key store's stored setting; never by counting keys."""
        if self.cfg.require_keys is not None:
            return self.cfg.require_keys
        return self.keys is not None and self.keys.required

    def client_address(self, scope: Scope) -> str:
        """The peer, or, when the peer is a trusted proxy, the nearest untrusted address of ``X-Forwarded-For``."""
        peer = (scope.get("client") or ("?", 0))[0]
        if not self.proxies or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in _header(scope, b"x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    def check_host_and_origin(self, scope: Scope) -> None:
        host = _header(scope, b"host", "").strip().lower()
        peer = (scope.get("client") or ("?", 0))[0]
        if self.loopback_only and not self._trusted(peer) and not is_loopback(urlsplit(f"//{host}").hostname):
            raise RefusedError(403, "this server answers on loopback names only (Host must be 127.0.0.1 or localhost)")
        origin = _header(scope, b"origin", None)
        if origin is None:
            return
        o = origin.strip().rstrip("/").lower()
        if o in self.cors:
            return
        parts = urlsplit(o)
        if o != "null" and parts.scheme in ("http", "https") and parts.netloc and parts.netloc == host:
            return
        raise RefusedError(403, f"requests from origin {origin[:100]!r} are not allowed (see --cors-origin)")

    def check_key_and_rate(self, token: str | None, scope: Scope) -> str:
        """Who the client is (``key:ID`` or ``ip:ADDRESS``), or :class:`RefusedError` with 401 or 429."""
        rate = self.cfg.rate_per_minute
        who = f"ip:{self.client_address(scope)}"
        if self.keys is not None and (token or self.keys_required()):
            key = self.keys.check(token)
            if key is None:
                raise RefusedError(401, "missing or invalid API key (X-API-Key header)")
            who, rate = f"key:{key.id}", key.rate_per_minute or rate
        elif self.keys_required():  # required, but no key store to check against
            raise RefusedError(401, "missing or invalid API key (X-API-Key header)")
        wait = self.limiter.allow(who, rate)
        if wait:
            raise RefusedError(
                429, f"rate limit of {rate} requests per minute reached", {"Retry-After": str(int(wait) + 1)}
            )
        return who

    def body_limit(self, method: str, path: str) -> int:
        """The largest body a route takes: its images at ``max_upload_bytes`` each, plus room for the form."""
        images = {"/v1/analyze": 1, "/v1/identify": 1, "/v1/verify": 2, "/v1/people": self.cfg.max_enrol_images}
        n = images.get(path.rstrip("/"), 0) if method == "POST" else 0
        return n * self.cfg.max_upload_bytes + BODY_OVERHEAD

    def check_websocket(self, scope: Scope) -> str:
        """The checks of an HTTP request, for a WebSocket handshake (the key may be ``?key=``)."""
        self.check_host_and_origin(scope)
        token = _header(scope, b"x-api-key", None)
        if token is None:
            token = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key") or [None])[0]
        return self.check_key_and_rate(token, scope)

    # --- ASGI ---------------------------------------------------------------------------------------------

    def middleware(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> GuardMiddleware:
        return GuardMiddleware(app, self)


class GuardMiddleware:
    """The guard as ASGI middleware: ``app.add_middleware(GuardMiddleware, guard=guard)``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        g = self.guard
        path, method = scope.get("path", ""), scope.get("method", "GET")
        limit = g.body_limit(method, path)
        try:
            g.check_host_and_origin(scope)
            if path.startswith("/v1/"):
                g.check_key_and_rate(_header(scope, b"x-api-key", None), scope)
            length = _header(scope, b"content-length", None)
            if length is not None:
                if not length.strip().isdigit():
                    raise RefusedError(400, "invalid Content-Length")
                if int(length) > limit:
                    raise RefusedError(
                        413, f"request body of {int(length):,} bytes is over this route's limit of {limit:,}"
                    )
        except RefusedError as d:
            await _answer(send, d.status, d.message, d.headers)
            return

        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    """ASGI middleware: the headers of the module docstring on every HTTP response that lacks them."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = API_POLICY

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for name, value in (
                    (b"content-security-policy", policy),
                    (b"x-content-type-options", "nosniff"),
                    (b"referrer-policy", "no-referrer"),
                    (b"x-frame-options", "DENY"),
                ):
                    if name not in have:
                        headers.append((name, value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _header(scope: Scope, name: bytes, default: Any) -> Any:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return default


async def _answer(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"connection", b"close"))  # the body (if any) was not read: the connection is not reused
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
