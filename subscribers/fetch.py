"""HTTP to URLs a user gave us (import files, notifyUrl, webhook endpoints), guarded against SSRF.

A URL must be http or https, and every address its host resolves to must be
public (not private, loopback, link-local, reserved, multicast or unspecified)
unless settings.ALLOW_PRIVATE_URLS is on. The host is resolved once and the
connection goes to that address (TLS still verifies the certificate against the
host name), so a DNS answer that changes between the check and the connection
(DNS rebinding) can't reach an internal address. Redirects are followed by hand
and every hop is checked again. Bodies are capped in bytes and seconds.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings

MAX_REDIRECTS = 5
READ_BLOCK = 256 * 1024
USER_AGENT = "Connext-Importer/1.0"


class UnsafeURL(ValueError):
    """The URL may not be used; the message says why (for a 400 naming the field)."""


class FetchError(Exception):
    """The URL could not be fetched; the message says why (for an import job's failure)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the resolved IP the connection goes to


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    body: bytes


# IPv6 forms that carry an IPv4 address, which is where a connection really goes: decided by it.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible ::a.b.c.d
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 IPv4-translated
# IPv6 ranges never public whatever Python's tables say: site-local (deprecated, still routed
# inside some networks), NAT64 for local use (RFC 8215), Teredo (tunnels to any IPv4).
_NEVER = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("2001::/32"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002::/16, 6to4
        return ip.sixtofour
    if ip in _NAT64 or ip in _TRANSLATED or (ip in _COMPATIBLE and int(ip) > 1):  # not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_address(address: str) -> bool:
    """Whether a connection to this IP address is refused (unless ALLOW_PRIVATE_URLS): not a
    public unicast address. Webhook deliveries check each address their resolver returns."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _NEVER):
            return True
        ip = _embedded_ipv4(ip) or ip
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def resolve(url: str) -> Target:
    """Check the URL and resolve its host once; UnsafeURL when it may not be used."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("Must be an http or https URL.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeURL("Not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("Only http and https URLs are allowed.")
    host = parts.hostname
    if not host:
        raise UnsafeURL("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeURL("Credentials in the URL are not allowed.")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeURL(f"The host {host!r} does not resolve.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeURL(f"The host {host!r} does not resolve.")
    if not settings.ALLOW_PRIVATE_URLS and any(forbidden_address(a) for a in addresses):
        raise UnsafeURL(f"The host {host!r} is a private, loopback, link-local or reserved address.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def check_url(url: str) -> None:
    """Raise UnsafeURL unless `url` may be fetched or posted to (see the module docstring)."""
    resolve(url)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return cls(target, timeout)


def _remaining(deadline: float, url: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError(f"Fetching {url} took longer than the time limit.")
    return left


def fetch(url: str, *, max_bytes: int, timeout: float = 120.0) -> Fetched:
    """GET `url` (following up to 5 redirects, each checked) into memory.

    Raises UnsafeURL when a hop may not be used, FetchError when the server
    fails, answers non-2xx, sends more than `max_bytes` or takes over `timeout` s.
    """
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        target = resolve(url)
        conn = _connection(target, min(30.0, _remaining(deadline, url)))
        try:
            conn.request("GET", target.path, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location"))
                continue
            if not 200 <= response.status < 300:
                raise FetchError(f"GET {url} answered HTTP {response.status}.")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"The file at {url} is larger than the {max_bytes} bytes allowed.")
            blocks, size = [], 0
            while True:
                _remaining(deadline, url)  # each read waits at most the connection's timeout
                block = response.read(READ_BLOCK)
                if not block:
                    break
                size += len(block)
                if size > max_bytes:
                    raise FetchError(f"The file at {url} is larger than the {max_bytes} bytes allowed.")
                blocks.append(block)
            return Fetched(url=url, content_type=response.getheader("Content-Type") or "", body=b"".join(blocks))
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"GET {url} failed: {exc or type(exc).__name__}.") from None
        finally:
            conn.close()
    raise FetchError(f"GET {url}: more than {MAX_REDIRECTS} redirects.")


def post_json(url: str, body: bytes, *, timeout: float = 10.0) -> int:
    """POST a JSON body to `url` (no redirects followed); returns the HTTP status.

    Raises UnsafeURL or FetchError like fetch().
    """
    target = resolve(url)
    conn = _connection(target, timeout)
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read(64 * 1024)
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"POST {url} failed: {exc or type(exc).__name__}.") from None
    finally:
        conn.close()
