"""Find the submissions in what a learning platform exports.

Accepted layouts (also inside a ``.zip``, possibly wrapped in one top folder):

* ``<student_id>.ipynb`` files;
* ``<student_id>/`` folders holding the notebook (``<chapter>.ipynb``, or the only ``.ipynb``),
  possibly with data files next to it.

Every entry gets exactly one :class:`Submission`: a notebook to grade, or a problem that becomes
an ``error`` row (a folder without a notebook, a PDF instead of a notebook, two notebooks for
one student...). Zip archives are read defensively: no absolute paths, no ``..``, no links, and
limits on the number and size of files.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints", "__pycache__"}
MAX_ZIP_FILES = 20000
MAX_ZIP_BYTES = 2 * 1024**3
MAX_FILE_BYTES = 64 * 1024**2
MAX_EXTRA_BYTES = 50 * 1024**2


@dataclass
class Submission:
    student_id: str
    notebook: Path | None = None
    extra_files: list[Path] = field(default_factory=list)  # files next to the notebook
    problem: str | None = None  # why it cannot be graded


class DiscoveryError(Exception):
    """The submissions folder or archive itself cannot be read (grading cannot run)."""


def safe_student_id(name: str) -> str:
    """A student id usable as a folder name and in nbgrader's gradebook."""
    sid = re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._") or "student"
    return sid[:100]


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in JUNK


def extract_zip(archive: Path, dest: Path, chapter: str) -> Path:
    """Extract ``archive`` into ``dest`` safely; return the folder that holds the submissions."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise DiscoveryError(f"{archive.name} is not a readable zip archive ({err})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES:
            raise DiscoveryError(f"{archive.name} holds {len(infos)} files, more than {MAX_ZIP_FILES}")
        total = 0
        dest.mkdir(parents=True, exist_ok=True)
        for info in infos:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or name.is_absolute() or ".." in name.parts or not name.parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                continue
            if any(part in JUNK or part.startswith(".") for part in name.parts):
                continue
            if info.file_size > MAX_FILE_BYTES:
                # Keep a marker so the student still gets a row that says why.
                target = dest.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.with_name(target.name + ".too-large").write_text(str(info.file_size))
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise DiscoveryError(f"{archive.name} unpacks to more than {MAX_ZIP_BYTES // 2**30} GiB")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                copied = _copy_limited(src, out, MAX_FILE_BYTES)
            if copied is False:
                target.unlink()
                target.with_name(target.name + ".too-large").write_text("")
    return unwrap(dest, chapter)


def unwrap(folder: Path, chapter: str) -> Path:
    """Descend through single wrapper folders (``export/``), but not into one student's folder."""
    while True:
        entries = [p for p in folder.iterdir() if _visible(p)]
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        inside = [p for p in entries[0].iterdir() if _visible(p)]
        notebooks = [p.name for p in inside if p.suffix == ".ipynb"]
        if notebooks == [f"{chapter}.ipynb"] and not any(p.is_dir() for p in inside):
            return folder  # a lone student's folder
        folder = entries[0]


def _copy_limited(src, out, limit: int) -> bool:
    written = 0
    while chunk := src.read(1 << 20):
        written += len(chunk)
        if written > limit:
            return False
        out.write(chunk)
    return True


def _notebook_in_folder(folder: Path, chapter: str) -> tuple[Path | None, list[Path], str | None]:
    notebooks, extras = [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(not _visible(Path(p)) for p in rel.parts) or path.is_symlink() or not path.is_file():
            continue
        if path.suffix == ".ipynb":
            notebooks.append(path)
        elif path.name.endswith(".ipynb.too-large"):
            return None, [], "the notebook is larger than the 64 MiB a submission may be"
        else:
            extras.append(path)
    named = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
    if len(named) == 1:
        chosen = named[0]
    elif len(notebooks) == 1:
        chosen = notebooks[0]
    elif not notebooks:
        return None, [], "the folder holds no notebook (.ipynb)"
    else:
        names = ", ".join(p.name for p in notebooks[:3])
        return None, [], f"the folder holds several notebooks ({names}) and none is named {chapter}.ipynb"
    extras = [p for p in extras if p.parent == chosen.parent]
    if sum(p.stat().st_size for p in extras) > MAX_EXTRA_BYTES:
        extras = []
    return chosen, extras, None


def discover(source: Path, chapter: str, scratch: Path) -> list[Submission]:
    """The submissions in ``source`` (a folder or a .zip), one per student, sorted by id."""
    if not source.exists():
        raise DiscoveryError(f"{source} does not exist")
    if source.is_file():
        if source.suffix.lower() != ".zip":
            raise DiscoveryError(f"{source} is neither a folder nor a .zip archive")
        source = extract_zip(source, scratch / "unzipped", chapter)
    candidates: dict[str, list[Submission]] = {}
    for entry in sorted(source.iterdir()):
        if not _visible(entry) or entry.is_symlink():
            continue
        if entry.is_dir():
            sid = safe_student_id(entry.name)
            nb, extras, problem = _notebook_in_folder(entry, chapter)
            sub = Submission(sid, nb, extras, problem)
        else:
            name = entry.name
            if name.endswith(".too-large"):
                sid = safe_student_id(Path(name[: -len(".too-large")]).stem)
                sub = Submission(sid, problem="the file is larger than the 64 MiB a submission may be")
            elif entry.suffix == ".ipynb":
                sub = Submission(safe_student_id(entry.stem), entry)
            else:
                sub = Submission(
                    safe_student_id(entry.stem),
                    problem=f"the file is not a notebook ({entry.suffix or 'no extension'}"
                    " instead of .ipynb)",
                )
        candidates.setdefault(sub.student_id, []).append(sub)
    out = []
    for sid, subs in sorted(candidates.items()):
        gradable = [s for s in subs if s.notebook is not None]
        if len(gradable) == 1:
            out.append(gradable[0])
        elif len(subs) == 1:
            out.append(subs[0])
        elif not gradable:
            out.append(subs[0])
        else:
            out.append(Submission(sid, problem=f"{len(gradable)} notebooks were submitted for this student"))
    return out
