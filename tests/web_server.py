"""A real web server serving a folder as static files, for remote roots served over HTTP(S).

nginx where it is installed (``.ci/run`` installs it as root), else Python's ``http.server`` in
a process of its own; both with TLS from a test certificate authority (``trustme``) and basic
auth (a password file), both able to answer every request with an error status, to be stopped
and started again, and to count what they served.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Optional

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScratchCA:
    """A certificate authority made for one test, and a certificate of 127.0.0.1 it signed."""

    def __init__(self, folder: Path) -> None:
        import trustme

        folder.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.bundle = folder / "ca.pem"  # what clients trust: SSL_CERT_FILE
        self.cert_chain = folder / "server.pem"
        self.key = folder / "server.key"
        ca.cert_pem.write_to_path(str(self.bundle))
        cert.private_key_pem.write_to_path(str(self.key))
        with self.cert_chain.open("wb") as stream:
            for blob in cert.cert_chain_pems:
                stream.write(blob.bytes())


class StaticSite:
    """``docroot`` served on 127.0.0.1 until ``stop`` (a context manager)."""

    def __init__(
        self,
        docroot: Path,
        work: Path,
        *,
        ca: Optional[ScratchCA] = None,
        auth: Optional[tuple[str, str]] = None,
        backend: str = "auto",
    ) -> None:
        self.docroot = docroot
        self.work = work
        self.ca = ca
        self.auth = auth
        if backend == "auto":  # REZUP_TEST_WEB_SERVER=python: the fallback, where nginx is
            backend = os.environ.get("REZUP_TEST_WEB_SERVER") or ("nginx" if NGINX else "python")
        self.backend = backend
        self.port = free_port()
        self.log = work / "access.log"
        self.process: Optional[subprocess.Popen] = None
        work.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ca else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> StaticSite:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server on ``self.port``; where that port was taken meanwhile (another
        test's server: ports are picked free, then bound by the server), on another one."""
        for _ in range(5):
            if self._start_on_port():
                return
            self.port = free_port()
        raise RuntimeError(f"{self.backend} could not listen: {self._errors()}")

    def _start_on_port(self) -> bool:
        command = self._nginx_command() if self.backend == "nginx" else self._python_command()
        with open(self.work / "server.err", "ab") as errors:  # the child keeps its own
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        self.process = process
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:  # its port taken, most likely: another port
                self.process = None
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.05)
                continue
            time.sleep(0.1)  # a listener that is not this server: it exits on its bind error
            if process.poll() is None:
                return True
            self.process = None
            return False
        self.stop()
        raise RuntimeError(f"{self.backend} did not listen on {self.port}: {self._errors()}")

    def _errors(self) -> str:
        try:
            return (self.work / "server.err").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM if self.backend == "python" else signal.SIGQUIT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def fail_with(self, status: Optional[int]) -> None:
        """Answer every request with ``status`` (500 or 503) from now on (None: serve files
        again): the file ``fail-status-<status>`` in the work folder says so to the server."""
        for flag in self.work.glob("fail-status-*"):
            flag.unlink()
        if status is not None:
            assert status in (500, 503), status
            (self.work / f"fail-status-{status}").touch()

    def requests(self) -> int:
        """How many requests the server answered, whatever their status."""
        try:
            return len(self.log.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def served(self, path_end: str, status: int = 200) -> int:
        """How many requests for a path ending in ``path_end`` were answered ``status``."""
        try:
            lines = self.log.read_text().splitlines()
        except FileNotFoundError:
            return 0
        count = 0
        for line in lines:
            try:
                code, path = line.split(" ", 1)
            except ValueError:
                continue
            if int(code) == status and path.split("?")[0].endswith(path_end):
                count += 1
        return count

    # -- nginx -------------------------------------------------------------------------------

    def _nginx_command(self) -> list[str]:
        prefix = self.work / "nginx"
        for sub in ("tmp", "logs"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        listen = f"127.0.0.1:{self.port}" + (" ssl" if self.ca else "")
        tls = (
            f"ssl_certificate {self.ca.cert_chain};\n        ssl_certificate_key {self.ca.key};"
            if self.ca
            else ""
        )
        auth = ""
        if self.auth:
            users = self.work / "htpasswd"
            users.write_text(f"{self.auth[0]}:{{PLAIN}}{self.auth[1]}\n")
            auth = f'auth_basic "rezup";\n        auth_basic_user_file {users};'
        # status and path, one request a line (what `served` counts)
        config = textwrap.dedent(
            f"""\
            {"user root;" if os.geteuid() == 0 else ""}
            worker_processes 1;
            daemon off;
            pid {prefix}/nginx.pid;
            error_log {prefix}/logs/error.log;
            events {{ worker_connections 256; }}
            http {{
                log_format bare '$status $uri';
                access_log {self.log} bare;
                client_body_temp_path {prefix}/tmp/body;
                proxy_temp_path {prefix}/tmp/proxy;
                fastcgi_temp_path {prefix}/tmp/fastcgi;
                uwsgi_temp_path {prefix}/tmp/uwsgi;
                scgi_temp_path {prefix}/tmp/scgi;
                types {{ text/html html; application/json json; }}
                default_type application/octet-stream;
                server {{
                    listen {listen};
                    {tls}
                    root {self.docroot};
                    {auth}
                    location / {{
                        if (-f {self.work}/fail-status-500) {{ return 500; }}
                        if (-f {self.work}/fail-status-503) {{ return 503; }}
                    }}
                }}
            }}
            """
        )
        conf = self.work / "nginx.conf"
        conf.write_text(config)
        return [NGINX or "nginx", "-p", str(prefix), "-c", str(conf), "-e", "stderr"]

    # -- Python's http.server ------------------------------------------------------------------

    def _python_command(self) -> list[str]:
        return [
            sys.executable,
            str(Path(__file__).with_name("_python_web_server.py")),
            str(self.docroot),
            str(self.port),
            str(self.log),
            str(self.work),
            f"{self.ca.cert_chain}:{self.ca.key}" if self.ca else "",
            ":".join(self.auth) if self.auth else "",
        ]
