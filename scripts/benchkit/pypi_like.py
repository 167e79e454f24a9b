"""A package index on 127.0.0.1 that answers as PyPI does, for ``bench.py --index pypi-like``.

Why: this machine reaches PyPI through a proxy that strips every caching header (no
``Cache-Control``, no ``ETag``), so uv must download each simple page again on every resolve,
a few round trips one after the other (~0.15 s each here). PyPI itself sends
``Cache-Control: max-age=600, public`` with its simple pages and
``max-age=365000000, immutable`` with its files, which uv honours (no request for ten minutes)
and pip revalidates (a conditional request answered ``304``). A studio's devpi, Artifactory or
Nexus behaves like PyPI. Measuring both tools against this index shows what each costs against
PyPI from a studio, with the index's distance taken out for both alike.

It is a pull-through mirror: a simple page is fetched once from PyPI (JSON, PEP 691) when first
asked, its file URLs rewritten to point here; a file (or its PEP 658 ``.metadata``) is fetched
once when first asked. Everything is then served from memory, with PyPI's headers, an ``ETag``
and ``304`` answers. The untimed warm-up round of each case fills it.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import threading
import urllib.error
import urllib.request
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

UPSTREAM = "https://pypi.org/simple"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
# PyPI's own headers (2026): simple pages may be reused for ten minutes, files for ever.
PAGE_CACHE_CONTROL = "max-age=600, public"
FILE_CACHE_CONTROL = "max-age=365000000, immutable, public"


class _Entry:
    """One answer kept in memory: its body, type, ETag and time."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.last_modified = formatdate(usegmt=True)


class PypiLikeIndex:
    """The mirror and its server; ``url`` is its simple index (``http://127.0.0.1:PORT/simple``)."""

    def __init__(self, upstream: str = UPSTREAM) -> None:
        self.upstream = upstream.rstrip("/")
        self._entries: dict[str, _Entry] = {}
        self._file_urls: dict[str, str] = {}  # file name -> its upstream URL
        self._lock = threading.Lock()
        self._ssl = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)
        self.requests = 0
        self.upstream_requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{self.base}/simple"
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what is served ----------------------------------------------------------------------

    def entry(self, path: str) -> Optional[_Entry]:
        """The answer for ``path``, fetched from upstream the first time; None for a 404."""
        with self._lock:
            known = self._entries.get(path)
        if known is not None:
            return known
        if path.startswith("/simple/") and path.endswith("/"):
            made = self._page(path[len("/simple/") : -1])
        elif path.startswith("/files/"):
            made = self._file(path[len("/files/") :])
        else:
            return None
        if made is not None:
            with self._lock:
                made = self._entries.setdefault(path, made)
        return made

    def _page(self, project: str) -> Optional[_Entry]:
        body = self._fetch(f"{self.upstream}/{project}/", accept=JSON_TYPE)
        if body is None:
            return None
        page = json.loads(body)
        for item in page.get("files", []):
            name = item["filename"]
            with self._lock:
                self._file_urls[name] = item["url"]
            item["url"] = f"{self.base}/files/{name}"
        return _Entry(json.dumps(page).encode(), JSON_TYPE)

    def _file(self, name: str) -> Optional[_Entry]:
        metadata = name.endswith(".metadata")
        with self._lock:
            url = self._file_urls.get(name[: -len(".metadata")] if metadata else name)
        if url is None:
            return None
        body = self._fetch(url + ".metadata" if metadata else url)
        if body is None:
            return None
        return _Entry(body, "text/plain" if metadata else "application/octet-stream")

    def _fetch(self, url: str, accept: str = "*/*") -> Optional[bytes]:
        self.upstream_requests += 1
        request = urllib.request.Request(url, headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=60, context=self._ssl) as answer:
                return answer.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def _handler_class(self) -> type:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def _answer(self, body: bool) -> None:
                index.requests += 1
                path = self.path.split("?", 1)[0]
                if path.startswith("/simple/") and not path.endswith("/"):
                    path += "/"
                entry = index.entry(path.lower() if path.startswith("/simple/") else path)
                if entry is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                page = path.startswith("/simple/")
                cache_control = PAGE_CACHE_CONTROL if page else FILE_CACHE_CONTROL
                if self.headers.get("If-None-Match") == entry.etag:
                    self.send_response(304)
                    self.send_header("ETag", entry.etag)
                    self.send_header("Cache-Control", cache_control)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", entry.content_type)
                self.send_header("Content-Length", str(len(entry.body)))
                self.send_header("ETag", entry.etag)
                self.send_header("Last-Modified", entry.last_modified)
                self.send_header("Cache-Control", cache_control)
                self.end_headers()
                if body:
                    self.wfile.write(entry.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
