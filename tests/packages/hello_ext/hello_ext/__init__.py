"""rezup test fixture: reports how it was started."""

import sys

GREETING = "hello"


def main():
    try:
        import rez

        rez_version = rez.__version__
    except ImportError:
        rez_version = "none"
    print(
        f"{GREETING} from hello-ext; ignore_environment={sys.flags.ignore_environment}; "
        f"python={sys.version_info[0]}.{sys.version_info[1]}; rez={rez_version}"
    )
