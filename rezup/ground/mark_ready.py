"""Marking a revision ready: ``revision.json`` (and its ``revision.marshal`` copy) written last,
then the container's ``.newest`` head brought up to date."""

import os

from rezup.ground import newest, paths, revision_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from rezup.ground.formats import RevisionMetadata


def write_metadata(revision_dir: "paths.StrPath", metadata: "RevisionMetadata") -> None:
    """Write ``revision.json`` atomically: from that moment the revision is ready. The
    ``metadata`` of a new revision is ``revision_json.make_metadata``'s, which has its
    ``format``; it is written as given.

    A local revision (not ``remote``) also gets ``revision.marshal`` first: the same data in
    ``marshal`` form with the exact bytes of ``revision.json``, which readers check before
    trusting it (``read_metadata``). Then the container's ``.newest`` is brought up to date
    (``refresh_newest``) when ``revision_dir`` is a revision folder in place (a published
    revision is written in a staging folder: ``remote_publish.publish`` refreshes after the rename).
    """
    revision_dir = os.fspath(revision_dir)
    import contextlib
    import json
    from pathlib import Path

    from rezup.ground.filesystem import write_atomic

    text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
    if not metadata.get("remote"):
        # without it readers read the JSON; a full disk fails the JSON below anyway
        with contextlib.suppress(OSError):
            _write_marshal(revision_dir, text)
    write_atomic(Path(revision_dir, paths.METADATA_FILENAME), text)
    parent = os.path.dirname(os.path.abspath(revision_dir))
    if os.path.basename(parent) == paths.REVISIONS_DIRNAME and paths.is_timestamp(
        os.path.basename(os.path.abspath(revision_dir))
    ):
        newest.refresh_newest(parent)


def _write_marshal(revision_dir: str, text: str) -> None:
    """``revision.marshal`` for the ``revision.json`` of content ``text``. Not flushed: a
    copy that does not match (a crash, another writer) is never used."""
    import contextlib
    import json
    import marshal

    raw = (
        text.encode("utf-8")
        if os.linesep == "\n"
        else text.replace("\n", os.linesep).encode("utf-8")
    )  # as a text-mode write leaves it
    data = (revision_json.MARSHAL_TAG, raw, json.loads(text))  # exactly what a JSON reader gets
    path = os.path.join(revision_dir, paths.METADATA_MARSHAL_FILENAME)
    tmp = os.path.join(revision_dir, f".{paths.METADATA_MARSHAL_FILENAME}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as stream:
            stream.write(marshal.dumps(data, revision_json.MARSHAL_VERSION))
        os.replace(tmp, path)  # never rewritten in place: it may be hard-linked elsewhere
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
