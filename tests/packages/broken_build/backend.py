"""An in-tree PEP 517 backend whose metadata works and whose wheel build fails."""

import os

_NAME = "broken_build-1.0.dist-info"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    folder = os.path.join(metadata_directory, _NAME)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "METADATA"), "w") as stream:
        stream.write("Metadata-Version: 2.1\nName: broken-build\nVersion: 1.0\n")
    return _NAME


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("broken-build refuses to build on purpose")


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("broken-build refuses to build on purpose")
