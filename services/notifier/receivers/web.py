"""HTTP for the receivers: stdlib http.client, one kept-alive connection per thread and host.

Keep-alive matters for speed (a TLS handshake per alert would cap a webhook at a
few dozen deliveries a second); one connection per thread keeps it lock-free.
Errors never carry the URL, which may hold a secret (a Telegram bot token, a
Slack webhook path): only a bounded reason code leaves this module.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from urllib.parse import urlsplit

from services.notifier.receivers.base import HttpRequest, HttpResponse, Outcome

#: answers larger than this are cut: we only read status, a few headers and small JSON
MAX_RESPONSE_BYTES = 64 * 1024


class HttpClient:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._local = threading.local()
        self._ssl = ssl_context or ssl.create_default_context()

    def _conns(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def __call__(self, req: HttpRequest, timeout_s: float) -> HttpResponse | Outcome:
        parts = urlsplit(req.url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port)
        conns = self._conns()
        headers = {"Content-Type": "application/json", "User-Agent": "repwatch-notifier", **req.headers}
        for fresh in (False, True):
            conn = conns.get(key)
            reused = conn is not None and not fresh
            if conn is None or fresh:
                if conn is not None:
                    conn.close()
                conn = (
                    http.client.HTTPSConnection(host, port, timeout=timeout_s, context=self._ssl)
                    if scheme == "https"
                    else http.client.HTTPConnection(host, port, timeout=timeout_s)
                )
                conns[key] = conn
            conn.timeout = timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(timeout_s)
            try:
                conn.request(req.method, path, body=req.body, headers=headers)
                resp = conn.getresponse()
                body = resp.read(MAX_RESPONSE_BYTES)
                if resp.length:  # the rest of an oversized answer: drop the connection instead
                    conn.close()
                    conns.pop(key, None)
                return HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                conns.pop(key, None)
                if reused:
                    continue  # the server closed an idle kept-alive connection: once more on a new one
                return Outcome.retry("connection_error")
            except TimeoutError:
                conn.close()
                conns.pop(key, None)
                return Outcome.retry("timeout")
            except ssl.SSLError:
                conn.close()
                conns.pop(key, None)
                return Outcome.retry("tls_error")
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(key, None)
                return Outcome.retry("connection_error")
        return Outcome.retry("connection_error")

    def close(self) -> None:
        for conn in self._conns().values():
            conn.close()
        self._conns().clear()
