"""The service's edge: the host names it answers to, the public base of its links, and the headers every
response carries (docs/semantics.md §6, §7).

Links (`links.next`, the `Location` of the trailing-slash redirect) are absolute. They are built from
`public_url` when it is set; otherwise from the request's Host, which must be one of `allowed_hosts`, so a
forged Host is refused instead of reflected. `X-Forwarded-Host`, `-Proto` and `-Prefix` count only when the
peer is one of `trusted_proxies`; the forwarded host must then be allowed too.

One ASGI layer, outside everything but Starlette's last-resort 500 handler (which adds the same headers
itself, see errors.on_unexpected).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from .errors import error_response

PUBLIC_BASE_KEY = "connect_readings.public_base"
"""Where the Edge puts the request's public base URL (scheme://host[:port][/prefix], no trailing slash)."""

# Every answer is per bearer and per moment (pages move as data arrive): no cache may keep one, and no browser
# may read a JSON error as HTML.
SECURITY_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# host[:port], the host a DNS name or IPv4 address, or an IPv6 address in brackets.
_AUTHORITY = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_][A-Za-z0-9_.-]{0,252})(?::(?P<port>[0-9]{1,5}))?")
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?")
_KNOWN_LIMIT = 1024


class HostPolicy:
    """Which hosts we answer to and the public base of a request's links; checks its settings when made."""

    def __init__(self, settings: Settings) -> None:
        self.public_url = _public_url(settings.public_url) if settings.public_url else None
        self.any_host = False
        exact: set[str] = set()
        suffixes: list[str] = []
        for pattern in settings.allowed_hosts or default_allowed_hosts(settings):
            if pattern == "*":
                self.any_host = True
            elif pattern.startswith("*."):
                suffixes.append("." + _host_pattern(pattern[2:]))
            else:
                exact.add(_host_pattern(pattern))
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self.proxies = tuple(_network(entry) for entry in settings.trusted_proxies)
        self.known: dict[bytes, bool] = {}
        """Host values seen → allowed; bounded (cleared when full)."""

    def public_base(self, scope: Scope) -> str:
        """scheme://host[:port][/prefix] of this request's links; _Refused for a host we do not answer to."""
        host = forwarded_host = proto = prefix = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name[:12] == b"x-forwarded-" and self.proxies:
                if name == b"x-forwarded-host":
                    forwarded_host = value
                elif name == b"x-forwarded-proto":
                    proto = value
                elif name == b"x-forwarded-prefix":
                    prefix = value
        forwarded = forwarded_host is not None or proto is not None or prefix is not None
        if forwarded and not self._from_proxy(scope):
            forwarded_host = proto = prefix = None
        elif forwarded_host is not None:
            host = _last(forwarded_host)  # our proxy's Host is its own upstream name: the client's is this one
        if host is not None and scope["path"] != "/healthz":  # (load balancers probe health by address)
            self._check(host)
        if self.public_url is not None:
            return self.public_url
        scheme = scope.get("scheme", "http")
        if proto is not None:
            scheme = _last(proto).decode("latin-1").lower()
            if scheme not in ("http", "https"):
                raise _Refused("X-Forwarded-Proto must be http or https")
        if host is not None:
            authority = host.decode("latin-1")
        else:  # HTTP/1.0 without Host (RequestGuard refuses HTTP/1.1): the address it came in on
            server = scope.get("server")
            authority = _authority(server[0], server[1]) if server else "localhost"
        path = ""
        if prefix is not None:
            path = _last(prefix).decode("latin-1")
            if not _PREFIX.fullmatch(path):
                raise _Refused("X-Forwarded-Prefix must be a URL path such as /readings")
            path = path.rstrip("/")
        return f"{scheme}://{authority}{path}"

    def _check(self, host: bytes) -> None:
        allowed = self.known.get(host)
        if allowed is None:
            allowed = self._allows(host)
            if len(self.known) >= _KNOWN_LIMIT:
                self.known.clear()
            self.known[host] = allowed
        if not allowed:
            raise _Refused("the Host header does not name this server")

    def _allows(self, host: bytes) -> bool:
        match = _AUTHORITY.fullmatch(host.decode("latin-1"))
        if match is None or (match["port"] is not None and int(match["port"]) > 65535):
            return False
        name = match["host"].lower()
        if name.startswith("["):
            try:
                ipaddress.IPv6Address(name[1:-1])
            except ValueError:
                return False
        return self.any_host or name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    def _from_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.proxies)


class Edge:
    def __init__(self, app: ASGIApp, hosts: HostPolicy) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        base: str | None = None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in SECURITY_HEADERS if header[0] not in present]
                if message["status"] in _REDIRECTS and base is not None:
                    headers = [(k, _relocated(v, base) if k == b"location" else v) for k, v in headers]
                message["headers"] = headers
            await send(message)

        try:
            base = self.hosts.public_base(scope)
        except _Refused as refused:
            await error_response(400, "InvalidHost", refused.message)(scope, receive, send_with_headers)
            return
        scope[PUBLIC_BASE_KEY] = base
        await self.app(scope, receive, send_with_headers)


def default_allowed_hosts(settings: Settings) -> tuple[str, ...]:
    """Loopback names, the address the server listens on (unless a wildcard) and the host of public_url."""
    hosts = list(LOOPBACK_HOSTS)
    if settings.host not in _WILDCARD_ADDRESSES:
        hosts.append(f"[{settings.host}]" if ":" in settings.host else settings.host)
    if settings.public_url:
        hosts.append(_hostname(_public_url(settings.public_url)))
    return tuple(hosts)


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _last(value: bytes) -> bytes:
    """The last of a comma-separated list: the one our own proxy added (earlier ones came from the client)."""
    return value.rpartition(b",")[2].strip()


def _authority(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def _relocated(location: bytes, base: str) -> bytes:
    """A redirect's target on our public base: only its path and query are ours to keep."""
    parts = urlsplit(location.decode("latin-1"))
    return (base + parts.path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")


def _public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"CONNECT_READINGS_PUBLIC_URL must be an http(s) URL without query, such as "
                         f"https://api.example.com/readings; got {url!r}")
    return url.rstrip("/")


def _hostname(url: str) -> str:
    match = _AUTHORITY.fullmatch(urlsplit(url).netloc.rpartition("@")[2])
    if match is None:
        raise ValueError(f"CONNECT_READINGS_PUBLIC_URL has no valid host: {url!r}")
    return match["host"].lower()


def _host_pattern(host: str) -> str:
    match = _AUTHORITY.fullmatch(host)
    if match is None or match["port"] is not None:
        raise ValueError(f"CONNECT_READINGS_ALLOWED_HOSTS: {host!r} is not a host name or '*.example.com' "
                         "(no port; an IPv6 address in brackets)")
    return host.lower()


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(f"CONNECT_READINGS_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
