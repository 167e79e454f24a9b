"""The web server of ``tests/web_server.py`` where nginx is not installed: Python's
``http.server`` serving a folder, with TLS and basic auth when asked, answering every request
with the status of a ``fail-status-<status>`` file in its work folder while there is one.

Usage: python _python_web_server.py DOCROOT PORT ACCESS_LOG WORK_DIR [CERT:KEY] [USER:PASSWORD]
"""

from __future__ import annotations

import base64
import functools
import ssl
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    docroot, port, log_path, work, tls, auth = [*sys.argv[1:], "", ""][:6]
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the server's life
    expected = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            failing = sorted(Path(work).glob("fail-status-*"))
            if failing:
                self.send_error(int(failing[0].name.rsplit("-", 1)[1]))
            elif expected and self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="rezup"')
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                super().do_GET()

        def log_request(self, code: object = "-", size: object = "-") -> None:
            log.write(f"{int(getattr(code, 'value', code))} {self.path}\n")

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", int(port)), functools.partial(Handler, directory=docroot)
    )
    if tls:
        cert, key = tls.split(":")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
