"""Grading with a PostgreSQL gradebook (`lmcourse grade --db URL`), on a real server.

The test starts a throwaway cluster of Debian's `postgresql` server (`initdb`, `pg_ctl`) in a
temporary folder, listening on a unix socket only, and stops and deletes it afterwards. The
server refuses to run as root, so under root it runs as the `postgres` user. Skipped, with the
reason, where the server binaries or the `psycopg2` driver are not installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import answers, fill
from lmcourse.course.chapters import ROOT
from lmcourse.course.grading import grade, totals
from lmcourse.course.mutants import load_mutants


def server_binaries() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: Debian keeps them out of PATH, in /usr/lib/postgresql/N/bin."""
    if found := shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="module")
def postgres_url():
    psycopg2 = pytest.importorskip("psycopg2", reason="the PostgreSQL driver is not installed "
                                   "(pip install psycopg2-binary)")
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server here (Debian: apt-get install postgresql)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="lmcourse-postgres-"))
    if os.geteuid() == 0:  # postgres will not run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no `postgres` user to run the server as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "server.log"

    def run(*command: str) -> None:
        subprocess.run(as_user + list(command), check=True, capture_output=True, timeout=120)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "start",
            "-o", f"-c listen_addresses='' -k {folder} -F")
        connection = psycopg2.connect(host=str(folder), user="postgres", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE gradebook")
        connection.close()
        yield f"postgresql+psycopg2://postgres@/gradebook?host={folder}"
    finally:
        if (data / "postmaster.pid").exists():
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder)


def test_grading_with_a_postgresql_gradebook(postgres_url, tmp_path):
    import psycopg2

    released = ROOT / "exercises/00-start/00-start.ipynb"
    correct = answers("00-start")
    wrong = "#| export" + load_mutants(ROOT / "tests/mutants/00-start.py")["mse_gradient"]["factor 2 forgotten"]
    fill(released, correct, tmp_path / "submissions/alice/00-start.ipynb")
    fill(released, {**correct, "mse_gradient": wrong}, tmp_path / "submissions/carol/00-start.ipynb")
    course = tmp_path / "course"
    result = grade(tmp_path / "submissions", course, ROOT / "solutions", db_url=postgres_url, only=["00"])
    assert totals(result.grades) == {("alice", "00-start"): (5, 5), ("carol", "00-start"): (2, 5)}
    assert not (course / "gradebook.db").exists()  # nothing fell back to SQLite
    host = postgres_url.rsplit("host=", 1)[1]
    with psycopg2.connect(host=host, user="postgres", dbname="gradebook") as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT student_id, sum(auto_score) FROM grade JOIN submitted_notebook "
                       "ON grade.notebook_id = submitted_notebook.id JOIN submitted_assignment "
                       "ON submitted_notebook.assignment_id = submitted_assignment.id GROUP BY student_id "
                       "ORDER BY student_id")
        assert cursor.fetchall() == [("alice", 5.0), ("carol", 2.0)]
