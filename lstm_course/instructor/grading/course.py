"""The instructor's nbgrader course: its configuration, gradebook URL and chapter assignments."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


@dataclass
class Course:
    """Settings of the nbgrader course rooted at ``root`` (from its ``nbgrader_config.py``)."""

    root: Path
    config: Config
    db_url: str

    @classmethod
    def load(cls, root: Path, db_url: str | None = None) -> Course:
        config = Config()
        if (root / "nbgrader_config.py").is_file():
            loader = PyFileConfigLoader("nbgrader_config.py", path=str(root))
            config.merge(loader.load_config())
        cd = config.CourseDirectory
        cd.root = str(root)
        url = db_url or cd.get("db_url") or "sqlite:///gradebook.db"
        url = postgres_driver(absolute_sqlite_url(url, root))
        cd.db_url = url
        return cls(root, config, url)

    def directory(self, name: str, default: str) -> Path:
        value = self.config.CourseDirectory.get(f"{name}_directory", default)
        return self.root / value

    @property
    def course_id(self) -> str:
        return self.config.CourseDirectory.get("course_id", "default_course")

    @property
    def cell_timeout(self) -> float | None:
        for section in ("Execute", "ExecutePreprocessor"):
            value = self.config[section].get("timeout") if section in self.config else None
            if value:
                return float(value)
        return None


def absolute_sqlite_url(url: str, root: Path) -> str:
    """``sqlite:///gradebook.db`` relative to the course folder, as an absolute URL."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        path = url[len(prefix) :]
        if path and path != ":memory:" and not path.startswith("file:"):
            url = prefix + str((root / path).resolve())
    return url


def postgres_driver(url: str) -> str:
    """``postgresql://`` with the driver the course installs (psycopg2): SQLAlchemy 2.1 would
    otherwise look for psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def shared_db_url(url: str) -> str:
    """The URL several processes use at once: SQLite waits for a lock instead of failing."""
    if url.startswith("sqlite:") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + "timeout=120"
    return url


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def venv_path_env() -> dict[str, str]:
    """nbgrader runs ``alembic`` from PATH: put this interpreter's bin folder first."""
    import sys

    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
