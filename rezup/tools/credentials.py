"""Credentials for downloads from an index, found where uv finds them.

``rezup add --wheels`` downloads wheels itself (uv has no ``pip download``), so a studio index
that asks for credentials must get the same ones uv sends it when it resolves:

1. credentials in the URL of the file, or in the URL of the index it comes from (the index
   whose URL is the longest prefix of the file's; else one on the same scheme, host and port,
   to which uv would have sent them first), and ``UV_INDEX_<NAME>_USERNAME``/``_PASSWORD`` for
   an index given as ``NAME=URL``: sent with the first request;
2. after the server refused the file (401, 403 or 404, as uv does): the netrc file (``$NETRC``,
   else ``~/.netrc``), then uv's credentials store (``uv auth login``: ``credentials.toml`` in
   ``$UV_CREDENTIALS_DIR`` or uv's state folder), then, with ``UV_KEYRING_PROVIDER=subprocess``
   and a username known, the ``keyring`` command (``keyring get URL USERNAME``, then the host).

Credentials never appear in messages: ``redact`` hides passwords in any text that may hold
a URL.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, NamedTuple, Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from rezup.ground import paths
from rezup.ground.errors import BuildError

if TYPE_CHECKING:
    import ssl
    import urllib.error

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*):[^/@\s]*@")
_ASK_AGAIN = (401, 403, 404)  # statuses after which uv looks for credentials and tries again


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``****``."""
    return _USERINFO.sub(r"\g<scheme>\g<user>:****@", text)


class Realm(NamedTuple):
    """What uv calls a realm: credentials for one are good for every path in it."""

    scheme: str
    host: str
    port: Optional[int]

    @classmethod
    def of(cls, url: str) -> Realm:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        default = {"http": 80, "https": 443}.get(parts.scheme)
        return cls(parts.scheme.lower(), (parts.hostname or "").lower(), port or default)


@dataclass(frozen=True)
class Index:
    """An index or find-links location, its credentials taken out of its URL."""

    url: str
    name: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    source: str = "the index URL"  # where the credentials come from, for messages

    @classmethod
    def parse(cls, location: str, env: Mapping[str, str]) -> Index:
        """``URL`` or ``NAME=URL`` (uv's named index), with its credentials from its URL or
        from ``UV_INDEX_<NAME>_USERNAME``/``_PASSWORD``."""
        name, sep, rest = location.partition("=")
        if sep and name and ":" not in name and "/" not in name:
            location = rest
        else:
            name = ""
        url, username, password = split_userinfo(location)
        key = "UV_INDEX_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        if name and (env.get(f"{key}_USERNAME") or env.get(f"{key}_PASSWORD")):
            username = env.get(f"{key}_USERNAME") or username
            password = env.get(f"{key}_PASSWORD") or password
            return cls(url, name, username, password, f"{key}_USERNAME/PASSWORD")
        return cls(url, name or None, username, password)

    def holds(self, url: str) -> bool:
        """Whether ``url`` lies under this index's URL (a whole path segment prefix)."""
        if Realm.of(url) != Realm.of(self.url):
            return False
        prefix = urlsplit(self.url).path.rstrip("/")
        path = urlsplit(url).path
        return path == prefix or path.startswith(prefix + "/")


def split_userinfo(url: str) -> tuple[str, Optional[str], Optional[str]]:
    """(URL without credentials, username, password) of ``url``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return bare, unquote(user) or None, unquote(password) if sep else None


class Credentials(NamedTuple):
    """What goes into the Authorization header, and where it was found (for messages)."""

    header: str
    source: str


def basic(username: str, password: str, source: str) -> Credentials:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return Credentials(f"Basic {token}", source)


@dataclass
class CredentialFinder:
    """Finds the credentials uv would send for a URL, from the indexes of a plan."""

    locations: Sequence[str]
    env: Mapping[str, str]
    keyring: bool = False  # UV_KEYRING_PROVIDER=subprocess
    indexes: list[Index] = field(init=False)

    def __post_init__(self) -> None:
        self.indexes = [Index.parse(location, self.env) for location in self.locations]

    def index_for(self, url: str) -> Optional[Index]:
        """The index ``url`` comes from: the longest prefix, else one on the same realm with
        credentials (uv reuses an index's credentials for its whole realm)."""
        holding = [index for index in self.indexes if index.holds(url)]
        if holding:
            return max(holding, key=lambda index: len(urlsplit(index.url).path))
        realm = Realm.of(url)
        return next(
            (index for index in self.indexes if index.username and Realm.of(index.url) == realm),
            None,
        )

    def username_for(self, url: str) -> Optional[str]:
        _, username, _ = split_userinfo(url)
        index = self.index_for(url)
        return username or (index.username if index else None)

    def first(self, url: str) -> Optional[Credentials]:
        """Credentials to send with the first request: those of the URL or of its index."""
        _, username, password = split_userinfo(url)
        if username and password is not None:
            return basic(username, password, "the URL")
        index = self.index_for(url)
        if (
            index
            and index.username
            and index.password is not None
            and (not username or username == index.username)
        ):
            return basic(index.username, index.password, index.source)
        return None

    def after_refusal(self, url: str) -> Optional[Credentials]:
        """Credentials to try once the server refused ``url``: netrc, uv's store, keyring."""
        username = self.username_for(url)
        return (
            self._from_netrc(url, username)
            or self._from_store(url, username)
            or self._from_keyring(url, username)
        )

    def sources(self) -> str:
        """The sources looked at, for an error message."""
        keyring = (
            "the keyring command (when a username is known)"
            if self.keyring
            else "keyring (off: UV_KEYRING_PROVIDER is not subprocess)"
        )
        return (
            f"the URL, the index URLs, UV_INDEX_<NAME>_USERNAME/PASSWORD, netrc "
            f"({self.netrc_path()}), uv's credentials store ({self.store_path()}), {keyring}"
        )

    # -- netrc ---------------------------------------------------------------------------------

    def netrc_path(self) -> str:
        return self.env.get("NETRC") or os.path.join(paths.home_folder(self.env), ".netrc")

    def _from_netrc(self, url: str, username: Optional[str]) -> Optional[Credentials]:
        import netrc

        path = self.netrc_path()
        if not os.path.isfile(path):
            return None
        try:
            found = netrc.netrc(path).authenticators(Realm.of(url).host)
        except (OSError, netrc.NetrcParseError):
            return None
        if not found or (username and found[0] != username):
            return None
        login, _, password = found
        return basic(login or username or "", password or "", f"netrc ({path})")

    # -- uv's credentials store ----------------------------------------------------------------

    def store_path(self) -> str:
        return os.path.join(uv_credentials_dir(self.env), "credentials.toml")

    def _from_store(self, url: str, username: Optional[str]) -> Optional[Credentials]:
        entry = store_lookup(read_store(self.store_path()), url, username)
        if entry is None:
            return None
        source = f"uv's credentials store ({self.store_path()})"
        if str(entry.get("scheme", "basic")).lower() == "bearer":
            return Credentials(f"Bearer {entry.get('token', '')}", source)
        return basic(str(entry.get("username", "")), str(entry.get("password", "")), source)

    # -- keyring -------------------------------------------------------------------------------

    def _from_keyring(self, url: str, username: Optional[str]) -> Optional[Credentials]:
        """``keyring get SERVICE USERNAME`` for the index URL, then the host (and, but for
        https, scheme://host): as uv does, only when a username is known (from the URL, the
        index URL or UV_INDEX_<NAME>_USERNAME), the keyring command being slow."""
        if not (self.keyring and username):
            return None
        if shutil.which("keyring", path=self.env.get("PATH")) is None:
            return None
        index = self.index_for(url)
        parts = urlsplit(split_userinfo(url)[0])
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        services = [split_userinfo(index.url)[0] if index else parts.geturl(), host]
        if parts.scheme != "https":
            services.append(f"{parts.scheme}://{host}")
        for service in services:
            password = _keyring_get(service, username, self.env)
            if password:
                return basic(username, password, f"keyring ({service})")
        return None


def _keyring_get(service: str, username: str, env: Mapping[str, str]) -> Optional[str]:
    """The password ``keyring get SERVICE USERNAME`` prints, or None."""
    try:
        out = subprocess.run(
            ["keyring", "get", service, username],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(env),
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    password = out.stdout.rstrip("\r\n") if out.returncode == 0 else ""
    return password or None


def uv_credentials_dir(env: Mapping[str, str], platform: str = sys.platform) -> str:
    """Where ``uv auth login`` keeps ``credentials.toml``: ``$UV_CREDENTIALS_DIR``, else the
    ``credentials`` folder of uv's state folder (uv-state ``StateStore::from_settings``)."""
    explicit = env.get("UV_CREDENTIALS_DIR")
    if explicit:
        return explicit
    home = paths.home_folder(env)
    if platform == "win32":
        appdata = env.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        legacy, current = os.path.join(appdata, "uv", "data"), os.path.join(appdata, "uv")
    else:
        data_home = env.get("XDG_DATA_HOME", "")
        if not os.path.isabs(data_home):
            data_home = os.path.join(home, ".local", "share")
        current = os.path.join(data_home, "uv")
        legacy = (
            os.path.join(home, "Library", "Application Support", "uv")
            if platform == "darwin"
            else current
        )
    return os.path.join(legacy if os.path.exists(legacy) else current, "credentials")


def read_store(path: str) -> list[dict]:
    """The ``[[credential]]`` entries of uv's credentials file (none if it cannot be read)."""
    from rezup.ground.compat import tomllib

    try:
        with open(path, "rb") as stream:
            entries = tomllib.load(stream).get("credential", [])
    except (OSError, tomllib.TOMLDecodeError):
        return []
    return [entry for entry in entries if isinstance(entry, dict) and entry.get("service")]


def store_lookup(entries: Sequence[dict], url: str, username: Optional[str]) -> Optional[dict]:
    """The entry uv's store gives ``url``: the most specific service URL on the same realm
    whose path is a prefix of the URL's (and with that username, if one is asked for)."""
    best: Optional[tuple[int, dict]] = None
    for entry in entries:
        service = str(entry["service"])
        if "://" not in service:
            service = "https://" + service
        if username and entry.get("username") != username:
            continue
        index = Index(service)
        if not index.holds(url):
            continue
        length = len(urlsplit(service).path.rstrip("/"))
        if best is None or length > best[0]:
            best = (length, entry)
    return best[1] if best else None


# --------------------------------------------------------------------------------------------
# Downloading


@dataclass
class Downloader:
    """Opens URLs the way uv would reach them: its credentials, proxies, certificates."""

    finder: CredentialFinder
    env: Mapping[str, str]
    insecure_hosts: Sequence[str] = ()
    timeout: float = 120.0

    def open(self, url: str) -> IO[bytes]:
        """The response to ``url``; BuildError if the server refuses it for credentials."""
        import urllib.error

        credentials = self.finder.first(url)
        try:
            return self._request(url, credentials)
        except urllib.error.HTTPError as exc:
            exc.close()  # the refusal's response, and its socket
            if exc.code not in _ASK_AGAIN or credentials is not None:
                raise self._refused(url, exc, credentials) from None
            found = self.finder.after_refusal(url)
            if found is None:
                raise self._refused(url, exc, None) from None
        try:
            return self._request(url, found)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise self._refused(url, exc, found) from None

    def _refused(
        self, url: str, exc: urllib.error.HTTPError, credentials: Optional[Credentials]
    ) -> Exception:
        host = urlsplit(url).netloc.rpartition("@")[2]
        if exc.code not in (401, 403):
            return OSError(f"HTTP {exc.code} {exc.reason}")
        if credentials is None:
            return BuildError(
                f"{host} asks for credentials (HTTP {exc.code}) for "
                f"{redact(split_userinfo(url)[0])} and none were found; tried "
                f"{self.finder.sources()}"
            )
        return BuildError(
            f"{host} refused the credentials from {credentials.source} "
            f"(HTTP {exc.code}) for {redact(split_userinfo(url)[0])}"
        )

    def _request(self, url: str, credentials: Optional[Credentials]) -> IO[bytes]:
        import urllib.request

        bare = split_userinfo(url)[0]
        request = urllib.request.Request(bare)
        if credentials is not None:  # not sent on to where a redirect leads
            request.add_unredirected_header("Authorization", credentials.header)
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(self._proxies()),
            urllib.request.HTTPSHandler(context=self._ssl_context(bare)),
        )
        return opener.open(request, timeout=self.timeout)

    def _proxies(self) -> dict[str, str]:
        proxies = {}
        for scheme in ("http", "https"):
            value = (
                self.env.get(f"{scheme}_proxy")
                or self.env.get(f"{scheme.upper()}_PROXY")
                or self.env.get("all_proxy")
                or self.env.get("ALL_PROXY")
            )
            if value:
                proxies[scheme] = value
        return proxies

    def _ssl_context(self, url: str) -> ssl.SSLContext:
        import ssl

        parts = urlsplit(url)
        names = {parts.hostname or "", parts.netloc.rpartition("@")[2]}
        if names & set(self.insecure_hosts):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        context = ssl.create_default_context(
            cafile=self.env.get("SSL_CERT_FILE") or None,
            capath=self.env.get("SSL_CERT_DIR") or None,
        )
        client = self.env.get("SSL_CLIENT_CERT")
        if client:
            context.load_cert_chain(client)
        return context


def http_timeout(env: Mapping[str, str], default: float = 120.0) -> float:
    """``UV_HTTP_TIMEOUT`` (seconds) when it is a positive number, else ``default``."""
    try:
        value = float(env.get("UV_HTTP_TIMEOUT", ""))
    except ValueError:
        return default
    return value if value > 0 else default
