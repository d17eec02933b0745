"""A throwaway PostgreSQL server on a UNIX socket in a private directory (no TCP), for tests."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile

import pytest


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (scripts/setup.sh does it)")
    return os.path.dirname(found[-1])


@contextlib.contextmanager
def postgres(port: int, prefix: str = "fullbars-pg-"):
    """The URL of database `fullbars` on a new server; the server and its files go at the end."""
    bindir = _pg_bin()
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    if run_as:
        shutil.chown(data, "postgres", "postgres")
    try:
        subprocess.run(run_as + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", data, "-w", "-l", f"{data}/log", "-o",
                                 f"-k {data} -c listen_addresses='' -p {port} -c fsync=off", "start"],
                       check=True, capture_output=True)
        subprocess.run(run_as + [f"{bindir}/createdb", "-h", data, "-p", str(port), "-U", "postgres", "fullbars"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/fullbars?host={data}&port={port}"
    except subprocess.CalledProcessError as e:
        pytest.fail(f"could not start a PostgreSQL server: {e.stderr.decode(errors='replace')[-500:]}")
    finally:
        subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
