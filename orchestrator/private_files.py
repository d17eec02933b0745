"""Files that hold a secret (an API token, an admin's password) are read only when they are the
user's own and nobody else may read them: a secret another user could read is refused, named."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestrator.errors import FullbarsError


def read_private(path: Path, what: str, fix: str) -> str:
    """The file's text, stripped. what: what it holds ("an API token"); fix: where to get one."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise FullbarsError(f"{path} is not a file", file=str(path), fix=f"give the file holding {what}")
        if st.st_mode & 0o077 or st.st_uid != os.getuid():
            raise FullbarsError(f"{path} may be read by others (mode {stat.S_IMODE(st.st_mode):04o}); a file "
                                f"holding {what} must be yours alone", file=str(path), fix=f"chmod 600 {path}")
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise FullbarsError(f"cannot read {path}: {e.strerror}", file=str(path),
                            fix=f"give a readable file holding {what}") from None
    except UnicodeDecodeError:
        raise FullbarsError(f"{path} does not hold {what} (not UTF-8 text)", file=str(path), fix=fix) from None
