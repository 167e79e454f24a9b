"""The shapes of the documents rezup writes and reads: ``revision.json``, ``plan.lock`` (as a
dict), the ``[tool.rezup]`` table of the standard locks and what every ``--json`` option
prints.

Type-checking only: the package imports this module under ``if TYPE_CHECKING:`` and never at
run time (``typing`` costs milliseconds, too much for the lean ``rezup use`` path); the
contract tests (``tests/test_json_contracts.py``) check real documents against these types.

Each document carries its format version in a top-level ``format`` key; the version numbers
live beside their writers: ``revision_json.METADATA_FORMAT``, ``plan.PLAN_FORMAT``,
``status.STATUS_FORMAT``, ``inspect.INSPECT_FORMAT``, ``diff.DIFF_FORMAT`` (and, in its
``[tool.rezup]`` table, ``standard_locks.TOOL_FORMAT``). Within one
version keys are only ever added; a key renamed or removed, or whose meaning changes, makes
a new version. docs/reference/json-formats.md lists them for users.

Keys that are not always there are in a ``total=False`` class (Python 3.9 has no
``NotRequired``): the required keys in a base class, the optional ones in its subclass.
"""

from __future__ import annotations

from typing import Optional, TypedDict

# -- revision.json -------------------------------------------------------------------------------


class RevisionSession(TypedDict):
    """What ``rezup use`` needs to enter a revision, copied from its plan."""

    bin_dirs: list[str]  # production bin folders, relative to the revision
    env: list[list[str]]  # [key, value] pairs of the recipe's [env], in order
    dotenv: list[str]  # dotenv files, in load order


class _RevisionMetadataRequired(TypedDict):
    format: int  # METADATA_FORMAT; missing in revisions of rezup 2.x and early rezup 3
    rezup_version: str
    creator: str
    hostname: str
    created: float  # seconds since the epoch
    revision_path: str
    plan_digest: str  # of plan.lock: "sha256:..."
    venvs: list[str]  # the rez venv first
    python: str  # the rez venv's Python version
    rez_version: Optional[str]
    session: RevisionSession  # missing in revisions of rezup 2.x


class RevisionMetadata(_RevisionMetadataRequired, total=False):
    """``revision.json`` (and its ``revision.marshal`` copy), as this rezup writes it.

    A document of an earlier format (rezup 2.x, early rezup 3) may lack any key but is still
    read: readers take each key with ``.get`` (``session`` is checked before use).
    """

    remote: bool  # a published remote revision (no venvs)
    pulled_from: str  # the remote revision folder a local revision was built from
    cloned_from: str  # the revision whose venvs this one hard-links
    cloned_from_container: str  # its container, when it is not this one's
    build_seconds: float


# -- plan.lock -----------------------------------------------------------------------------------


class PlanInstaller(TypedDict):
    options: list[str]  # uv options
    env: dict[str, str]  # UV_* variables


class PlanRuntime(TypedDict):
    dotenv: list[str]
    dotenv_platform: dict[str, list[str]]
    env: dict[str, str]


class PlanTool(TypedDict):
    package: str
    flags: list[str]
    editable: bool


class PlanVenv(TypedDict):
    name: str
    python: str  # the interpreter found when planning
    python_request: str
    python_version: str
    link_shared: bool
    requirements: list[str]  # pinned lines with hashes
    editables: list[str]
    tool: list[PlanTool]


class PlanShared(TypedDict):
    name: str
    python: str
    requirements: list[str]


class _PlanRequired(TypedDict):
    format: int  # PLAN_FORMAT: a plan of another format is not read
    container: str
    description: str
    wheels: bool
    installer: PlanInstaller
    runtime: PlanRuntime
    venv: list[PlanVenv]


class PlanDocument(_PlanRequired, total=False):
    """``plan.lock`` as a dict (``Plan.to_dict``, ``Plan.from_dict``); written as TOML."""

    pinned_seeds: bool  # written only when true
    shared: PlanShared  # the deprecated [shared] libraries


# -- index.json of a published container (a remote root served over HTTP) ------------------------


class RemoteIndexRevision(TypedDict):
    name: str  # the revision folder's name (a timestamp)
    plan: bool  # it holds a plan.lock (one rezup 2.x published holds a recipe only)
    wheels: bool  # it holds a wheelhouse, with its page of links (wheels/index.html)


class RemoteIndexDocument(TypedDict):
    """``{root}/{container}/index.json``: the ready revisions of a published container, newest
    first, for machines that reach the root over HTTP(S) (``rezup.ground.remote_index``)."""

    format: str  # "rezup-remote-index"
    version: int  # remote_index.INDEX_VERSION
    container: str
    written: float  # seconds since the epoch
    revisions: list[RemoteIndexRevision]


# -- pylock.<venv>.toml: the [tool.rezup] table of a revision's standard lock ------------------

PylockToolTable = TypedDict(
    "PylockToolTable",
    {
        "format": int,  # standard_locks.TOOL_FORMAT
        "container": str,
        "revision": str,  # the revision folder's name (its timestamp)
        "venv": str,
        "python": str,  # the venv's Python version (the standard says only requires-python)
        "platform": str,  # what uv locked the files of: "linux-x86_64"
        "plan-digest": str,  # of the revision's plan.lock: "sha256:..."
        "inputs-digest": str,  # of what the lock was made from (standard_locks.inputs_digest)
        "rezup-version": str,  # of the rezup that wrote the file
    },
)
PylockToolTable.__doc__ = "The ``[tool.rezup]`` table of ``pylock.<venv>.toml`` (TOML)."


# -- status --json -------------------------------------------------------------------------------


class PullFailureRecord(TypedDict):
    """The last failed pull of a revision, while it holds (``pull.pull_failure``)."""

    reason: str
    time: float  # seconds since the epoch
    retry_in: float  # seconds


class PullFailure(PullFailureRecord):
    revision: str


class UseForecast(TypedDict):
    """What ``rezup use NAME`` would enter on this machine now."""

    revision: Optional[str]  # a local revision
    pull: Optional[str]  # a remote revision it would pull first
    failure: Optional[PullFailure]  # why that pull failed lately (revision is the fallback)
    warning: Optional[str]


class _RevisionRowRequired(TypedDict):
    revision: str
    date: str
    local: Optional[str]  # its state here: ready, broken, building, ...; None: not here


class RevisionRow(_RevisionRowRequired, total=False):
    remote: Optional[str]  # its state in the remote root (only with a remote root)
    local_path: str
    remote_path: str
    in_use: bool
    pids: list[int]
    size: int  # bytes of its own
    compiling: list[str]  # venvs whose seed bytecode a background process compiles now
    creator: str
    hostname: str
    rez_version: Optional[str]
    python: Optional[str]
    pulled: bool  # pulled from the remote root
    error: str  # why its revision.json cannot be read


class ContainerStatus(TypedDict):
    name: str
    exists: bool
    recipe: Optional[str]  # the recipe file
    recipe_error: Optional[str]
    description: str
    local_root: Optional[str]
    remote_root: Optional[str]
    local_path: Optional[str]
    remote_path: Optional[str]
    dropped: bool
    size: int
    revisions: list[RevisionRow]  # newest first
    errors: list[str]
    warnings: list[str]
    latest_ready: Optional[str]
    use_enters: Optional[str]  # the revision `rezup use NAME` enters here now
    use: Optional[UseForecast]
    stale_publishes: list[str]


class RecipeWithoutContainer(TypedDict):
    name: str
    recipe: Optional[str]
    recipe_error: Optional[str]
    description: str


class StatusDocument(TypedDict):
    """``rezup status --json``."""

    format: int  # STATUS_FORMAT
    containers: list[ContainerStatus]
    recipes_without_container: list[RecipeWithoutContainer]


# -- inspect --json ------------------------------------------------------------------------------


class InspectEnvironment(TypedDict):
    env: dict[str, str]  # [env] as written
    dotenv: dict[str, Optional[dict[str, str]]]  # file: its values now (None: missing)


class InspectDocument(TypedDict):
    """``rezup inspect NAME [REVISION] --json``."""

    format: int  # INSPECT_FORMAT
    container: str
    revision: str
    date: str
    state: Optional[str]  # ready, broken, building, retired, incomplete; None: missing
    remote: bool
    pulled_from: Optional[str]
    in_use: bool
    pids: list[int]
    path: str
    size: int
    rez_version: Optional[str]
    python: dict[str, str]  # venv: Python version
    creator: Optional[str]
    hostname: Optional[str]
    venvs: dict[str, str]  # venv: folder
    bin_dirs: list[str]
    pins: dict[str, dict[str, str]]  # venv: {package: version or source}
    environment: InspectEnvironment
    recipe: Optional[str]


# -- diff --json ---------------------------------------------------------------------------------


class Changes(TypedDict):
    added: dict[str, str]
    removed: dict[str, str]
    changed: dict[str, list[str]]  # key: [old, new]


# "from" is a Python keyword: the functional form
DiffDocument = TypedDict(
    "DiffDocument",
    {
        "format": int,  # DIFF_FORMAT
        "container": str,
        "from": str,  # a revision
        "to": str,
        "recipe": list[str],  # unified diff lines of rezup.toml
        "python": dict[str, list[Optional[str]]],  # venv: [old, new], only where it changed
        "venvs": dict[str, Changes],  # venv: its pins' changes
        "env": Changes,
        "dotenv": Changes,
    },
)
DiffDocument.__doc__ = "``rezup diff NAME [REV_A [REV_B]] --json``."

__all__ = [
    "Changes",
    "ContainerStatus",
    "DiffDocument",
    "InspectDocument",
    "InspectEnvironment",
    "PlanDocument",
    "PlanInstaller",
    "PlanRuntime",
    "PlanShared",
    "PlanTool",
    "PlanVenv",
    "PullFailure",
    "PullFailureRecord",
    "PylockToolTable",
    "RecipeWithoutContainer",
    "RevisionMetadata",
    "RevisionRow",
    "RevisionSession",
    "StatusDocument",
    "UseForecast",
]
