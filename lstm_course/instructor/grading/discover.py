"""Find the submissions in what a learning platform exports.

Accepted layouts (also inside a ``.zip``, possibly wrapped in one top folder):

* ``<student_id>.ipynb`` files;
* ``<student_id>/`` folders holding the notebook (``<chapter>.ipynb``, or the only ``.ipynb``),
  possibly with data files next to it.

Every entry gets exactly one :class:`Submission`, so exactly one row of ``grades.csv``: a
notebook to grade, or a problem that becomes an ``error`` row (a folder without a notebook, a
PDF instead of a notebook, a link, a hidden file, a zip member that was not extracted...).
Entries with the same name but for the extension (``alice.ipynb`` and ``alice.pdf``, or
``alice.ipynb`` and ``alice/``) are one student and share a row. Names that differ but read the
same once made safe (``lee ana`` and ``lee_ana``, two long names cut to 100 characters) never
merge: each keeps its own id (the second gets a suffix made from its original name) and its
original name is kept in :attr:`Submission.entries` (the ``submitted_as`` column).

Zip archives are read defensively: no absolute paths, no ``..``, no links, limits on the number
and size of files; every member that is not extracted is reported on the row it belongs to.
Platform metadata (``__MACOSX``, ``.DS_Store``, ``._*`` AppleDouble files...) is not an entry.
"""

from __future__ import annotations

import hashlib
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
MAX_ID = 100
TOO_LARGE = "larger than the 64 MiB a submission may be"


@dataclass
class Submission:
    student_id: str
    notebook: Path | None = None
    extra_files: list[Path] = field(default_factory=list)  # files next to the notebook
    problem: str | None = None  # why it cannot be graded
    entries: list[str] = field(default_factory=list)  # the original names this row stands for
    notes: list[str] = field(default_factory=list)  # what was left out of a graded entry


class DiscoveryError(Exception):
    """The submissions folder or archive itself cannot be read (grading cannot run)."""


def safe_student_id(name: str) -> str:
    """A student id usable as a folder name and in nbgrader's gradebook."""
    sid = re.sub(r"[^A-Za-z0-9._@+-]+", "_", name).strip("._") or "student"
    return sid[:MAX_ID]


def _junk(name: str) -> bool:
    """Platform metadata, never a submission."""
    return name in JUNK or name.startswith("._")


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and path.name not in JUNK


@dataclass
class _Skipped:
    path: PurePosixPath  # as named in the archive
    reason: str


def extract_zip(archive: Path, dest: Path, chapter: str) -> tuple[Path, list[_Skipped], PurePosixPath]:
    """Extract ``archive`` into ``dest`` safely.

    Returns the folder that holds the submissions, the members that were not extracted (with
    why), and where that folder lies inside the archive.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise DiscoveryError(f"{archive.name} is not a readable zip archive ({err})") from None
    skipped: list[_Skipped] = []
    seen: set[PurePosixPath] = set()
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES:
            raise DiscoveryError(f"{archive.name} holds {len(infos)} files, more than {MAX_ZIP_FILES}")
        total = 0
        dest.mkdir(parents=True, exist_ok=True)
        for info in infos:
            raw = info.filename.replace("\\", "/")
            name = PurePosixPath(raw)
            if not name.parts or any(_junk(part) for part in name.parts):
                continue
            if name.is_absolute() or ".." in name.parts:
                skipped.append(_Skipped(name, f"the archive member `{raw}` points outside the archive"))
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                skipped.append(_Skipped(name, f"the archive member `{raw}` is a link, which is not followed"))
                continue
            if name in seen:
                skipped.append(_Skipped(name, f"the archive holds `{raw}` twice; the first copy was used"))
                continue
            seen.add(name)
            target = dest.joinpath(*name.parts)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if info.file_size > MAX_FILE_BYTES:
                    skipped.append(_Skipped(name, f"`{raw}` is {TOO_LARGE}"))
                    continue
                total += info.file_size
                if total > MAX_ZIP_BYTES:
                    raise DiscoveryError(f"{archive.name} unpacks to more than {MAX_ZIP_BYTES // 2**30} GiB")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:
                    copied = _copy_limited(src, out, MAX_FILE_BYTES)
                if copied is False:
                    target.unlink()
                    skipped.append(_Skipped(name, f"`{raw}` is {TOO_LARGE}"))
            except OSError as err:  # `a` and `a/x.ipynb` both in the archive, a bad name...
                why = (
                    "a file and a folder of the same name"
                    if isinstance(err, (FileExistsError, NotADirectoryError, IsADirectoryError))
                    else err.strerror or type(err).__name__
                )
                skipped.append(_Skipped(name, f"the archive member `{raw}` could not be extracted ({why})"))
            except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as err:
                target.unlink(missing_ok=True)
                skipped.append(_Skipped(name, f"the archive member `{raw}` is unreadable ({err})"))
    folder = unwrap(dest, chapter)
    return folder, skipped, PurePosixPath(*folder.relative_to(dest).parts)


def unwrap(folder: Path, chapter: str) -> Path:
    """Descend through single wrapper folders (``export/``), but not into one student's folder."""
    while True:
        entries = [p for p in folder.iterdir() if _visible(p)]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
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


def _notebook_in_folder(folder: Path, chapter: str) -> tuple[Path | None, list[Path], str | None, list[str]]:
    notebooks, extras, notes = [], [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(_junk(p) for p in rel.parts):
            continue
        if any(p.startswith(".") for p in rel.parts):
            if path.is_file() or path.is_symlink():
                notes.append(f"the hidden file `{rel}` was left out")
            continue
        if path.is_symlink():
            notes.append(f"the link `{rel}` was not followed")
            continue
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":
            notebooks.append(path)
        else:
            extras.append(path)
    named = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
    if len(named) == 1:
        chosen = named[0]
    elif len(notebooks) == 1:
        chosen = notebooks[0]
    elif not notebooks:
        return None, [], "the folder holds no notebook (.ipynb)", notes
    else:
        names = ", ".join(p.name for p in notebooks[:3])
        problem = f"the folder holds several notebooks ({names}) and none is named {chapter}.ipynb"
        return None, [], problem, notes
    extras = [p for p in extras if p.parent == chosen.parent]
    if sum(p.stat().st_size for p in extras) > MAX_EXTRA_BYTES:
        extras = []
        notes.append("the data files next to the notebook were left out (more than 50 MiB)")
    return chosen, extras, None, notes


def _entry(entry: Path, chapter: str) -> Submission:
    """The submission one entry of the submissions folder stands for."""
    name = entry.name
    label = name + ("/" if entry.is_dir() and not entry.is_symlink() else "")
    raw = name if label.endswith("/") else (Path(name).stem if Path(name).suffix else name)
    sub = Submission(raw, entries=[label])
    if entry.is_symlink():
        sub.problem = "the entry is a link, which the grader does not follow; submit the file itself"
    elif name.startswith("."):
        sub.problem = "the entry is a hidden file (its name starts with a dot), which is not graded"
    elif entry.is_dir():
        sub.notebook, sub.extra_files, sub.problem, sub.notes = _notebook_in_folder(entry, chapter)
    elif not entry.is_file():
        sub.problem = "the entry is not a regular file"
    elif entry.suffix == ".ipynb":
        sub.notebook = entry
    else:
        sub.problem = f"the file is not a notebook ({entry.suffix or 'no extension'} instead of .ipynb)"
    return sub


def _merge(raw: str, subs: list[Submission]) -> Submission:
    """One row for the entries of one student (the same name but for the extension)."""
    if len(subs) == 1:
        return subs[0]
    entries = [e for s in subs for e in s.entries]
    notes = [n for s in subs for n in s.notes]
    gradable = [s for s in subs if s.notebook is not None]
    if len(gradable) == 1:
        chosen = gradable[0]
        others = ", ".join(f"`{e}`" for e in entries if e not in chosen.entries)
        return Submission(raw, chosen.notebook, chosen.extra_files, None, entries,
                          notes + [f"{others} was not graded (only `{chosen.entries[0]}` was)"])
    if gradable:
        return Submission(raw, problem=f"{len(gradable)} notebooks were submitted for this student "
                          f"({', '.join(entries)})", entries=entries, notes=notes)
    first = subs[0]
    return Submission(raw, problem=first.problem, entries=entries, notes=notes)


def _distinct_ids(subs: list[Submission]) -> None:
    """Give each submission an id of its own, safe as a folder name: the raw name made safe,
    plus a suffix from the raw name where another entry reads the same once made safe."""
    by_safe: dict[str, list[Submission]] = {}
    for sub in subs:
        by_safe.setdefault(safe_student_id(sub.student_id), []).append(sub)
    taken = set(by_safe)
    for safe, group in sorted(by_safe.items()):
        for sub in group:
            raw = sub.student_id
            if len(group) == 1 or raw == safe:
                sub.student_id = safe
                continue
            digest = hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()
            for size in range(6, 65, 2):
                candidate = f"{safe[: MAX_ID - size - 1]}-{digest[:size]}"
                if candidate not in taken:
                    break
            taken.add(candidate)
            sub.student_id = candidate


def _attach(owner: Submission, reason: str, notebook: bool) -> None:
    """Say on ``owner``'s row that a member of the archive belonging to it was not extracted."""
    if owner.problem and notebook and "no notebook" in owner.problem:
        owner.problem = reason
    elif owner.problem:
        owner.problem += f"; also, {reason}"
    else:
        owner.notes.append(reason)


def discover(source: Path, chapter: str, scratch: Path) -> list[Submission]:
    """The submissions in ``source`` (a folder or a .zip), one per entry, sorted by id."""
    if not source.exists():
        raise DiscoveryError(f"{source} does not exist")
    skipped: list[_Skipped] = []
    prefix = PurePosixPath()
    if source.is_file():
        if source.suffix.lower() != ".zip":
            raise DiscoveryError(f"{source} is neither a folder nor a .zip archive")
        source, skipped, prefix = extract_zip(source, scratch / "unzipped", chapter)
    by_raw: dict[str, list[Submission]] = {}
    by_entry: dict[str, Submission] = {}
    for entry in sorted(source.iterdir()):
        if _junk(entry.name):
            continue
        sub = _entry(entry, chapter)
        by_raw.setdefault(sub.student_id, []).append(sub)
        by_entry[entry.name] = sub
    # Zip members that were not extracted: a note on the entry they belong to, or a row of their own.
    for skip in skipped:
        parts = skip.path.parts
        outside = skip.path.is_absolute() or ".." in parts
        if not outside and parts[: len(prefix.parts)] == prefix.parts and len(parts) > len(prefix.parts):
            top, inside = parts[len(prefix.parts)], len(parts) > len(prefix.parts) + 1
        else:
            top, inside = parts[-1], False
        owner = by_entry.get(top)
        if owner is not None and inside:
            _attach(owner, skip.reason, str(skip.path).endswith(".ipynb"))
            continue
        raw = top if inside else (PurePosixPath(top).stem or top)
        label = top + ("/" if inside else "")
        if owner is not None:  # a second copy of a top-level file, a file where a folder is
            _attach(owner, skip.reason, False)
            continue
        sub = Submission(raw, problem=skip.reason, entries=[label])
        by_raw.setdefault(raw, []).append(sub)
        by_entry[top] = sub
    out = [_merge(raw, subs) for raw, subs in by_raw.items()]
    _distinct_ids(out)
    return sorted(out, key=lambda s: s.student_id)
