"""The scratch working directory: a temporary mirror of the user's folder that the script runs in.

The parent builds the mirror before the child starts and compares it with what it built once the child
is gone, so the report can list what the script wrote; nothing the script creates, changes or deletes
there reaches the user's files. Small files are copied; large ones (and caches such as ``.git``) are read
through links, which the child's :class:`WriteGuard` replaces by a copy before the script writes to one.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fitdoctor.findings import FileWrite

#: Files up to this size are copied; larger ones are read through a link until the script writes them.
COPY_FILE_LIMIT = 64 * 2**20
#: At most this many bytes are copied in all; past it, every further file is linked.
COPY_TOTAL_LIMIT = 512 * 2**20
#: At most this many files and folders are mirrored one by one; past it, remaining folders are linked whole.
ENTRY_LIMIT = 20_000
#: At most this many siblings of a mirrored folder are linked beside it (so ``../data`` still reads).
SIBLING_LIMIT = 1_000
#: Caches that are left out of the mirror (Python rebuilds them).
SKIPPED = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"})
#: Folders linked whole: version control and environments, which training scripts read at most.
LINKED_WHOLE = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".tox", ".nox"})

_Stamp = tuple[str, int, int]  # kind ("file" or "link"), size, mtime_ns


def _stamp(path: str, follow: bool = False) -> _Stamp | None:
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    kind = "link" if stat.S_ISLNK(st.st_mode) else "file"
    return kind, st.st_size, st.st_mtime_ns


@dataclass
class Mirror:
    """A scratch copy of one or more of the user's folders.

    Attributes:
        folders: Original folder -> its copy.
        manifest: Copy-side path of every mirrored file or link -> its stamp when the mirror was built.
        originals: Copy-side path of a linked file -> the stamp of the original it links to.
    """

    folders: dict[str, str] = field(default_factory=dict)
    manifest: dict[str, _Stamp] = field(default_factory=dict)
    originals: dict[str, tuple[str, _Stamp]] = field(default_factory=dict)

    def to_scratch(self, path: str) -> str:
        """Where an original path lies in the mirror (unchanged when it lies outside every mirrored folder)."""
        return _translate(path, self.folders)

    def replace_file(self, original: str, text: str) -> None:
        """Give a mirrored file new contents (a patched script re-checked in scratch): a link becomes a copy,
        and the manifest takes the new stamp, so the change isn't reported as one the script made.

        Raises:
            OSError: The file does not lie in the mirror.
        """
        copy = self.to_scratch(original)
        if copy == original:
            raise OSError(f"{original} is not in the scratch copy")
        if os.path.islink(copy):
            os.unlink(copy)
        with open(copy, "w", encoding="utf-8") as fh:
            fh.write(text)
        self.manifest[copy] = _stamp(copy) or ("file", len(text), 0)
        self.originals.pop(copy, None)

    def to_original(self, path: str) -> str:
        """The original of a path in the mirror (unchanged when it lies outside the mirror)."""
        return _translate(path, {v: k for k, v in self.folders.items()})

    def changes(self, display_root: str) -> list[FileWrite]:
        """What the script created, changed or deleted in the mirror, as original paths.

        Args:
            display_root: Paths under this folder are shown relative to it.
        """
        out: list[FileWrite] = []
        seen: set[str] = set()
        for copy in self.folders.values():
            for path, kind in _walk(copy):
                seen.add(path)
                before = self.manifest.get(path)
                now = _stamp(path)
                if kind == "dir":
                    continue
                if before is None:
                    out.append(FileWrite(self._show(path, display_root), "created", False))
                elif now != before:
                    out.append(FileWrite(self._show(path, display_root), "modified", False))
        for path in self.manifest:
            if path not in seen and not os.path.lexists(path):
                out.append(FileWrite(self._show(path, display_root), "deleted", False))
        for original, before in self.originals.values():
            if _stamp(original, follow=True) != before:
                out.append(FileWrite(_show(original, display_root), "modified", True))
        return sorted(out, key=lambda w: (w.path, w.change))

    def _show(self, path: str, display_root: str) -> str:
        return _show(self.to_original(path), display_root)


def _show(path: str, display_root: str) -> str:
    rel = os.path.relpath(path, display_root)
    return path if rel.startswith("..") else rel


def _translate(path: str, mapping: dict[str, str]) -> str:
    for src, dst in mapping.items():
        if path == src:
            return dst
        if path.startswith(src + os.sep):
            return dst + path[len(src) :]
    return path


def _walk(root: str) -> list[tuple[str, str]]:
    """Every file, link and folder under ``root`` (links not followed), without the skipped caches."""
    out: list[tuple[str, str]] = []
    queue = deque([root])
    while queue:
        folder = queue.popleft()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED:
                    out.append((entry.path, "dir"))
                    queue.append(entry.path)
            else:
                out.append((entry.path, "file"))
    return out


def outermost(folders: list[str]) -> list[str]:
    """The folders, without those inside another one of them (each mirrored once)."""
    unique = sorted({os.path.realpath(f) for f in folders}, key=len)
    kept: list[str] = []
    for f in unique:
        if not any(f == k or f.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(f)
    return kept


def build_mirror(folders: list[str], scratch: str) -> Mirror:
    """Mirror ``folders`` under the empty folder ``scratch``.

    Each folder's copy keeps the folder's name, beside links to the folder's siblings, so relative paths
    such as ``../data`` read what they read in place.
    """
    mirror = Mirror()
    budget = _Budget()
    for index, original in enumerate(outermost(folders)):
        parent = os.path.join(scratch, str(index))
        os.makedirs(parent)
        name = os.path.basename(original.rstrip(os.sep)) or "root"
        copy = os.path.join(parent, name)
        os.mkdir(copy)
        mirror.folders[original] = copy
        _link_siblings(original, parent, name)
        _copy_tree(original, copy, mirror, budget)
    return mirror


@dataclass
class _Budget:
    entries: int = 0
    copied: int = 0


def _link_siblings(original: str, parent: str, name: str) -> None:
    above = os.path.dirname(original.rstrip(os.sep))
    if not above or above == original:
        return
    try:
        siblings = sorted(os.listdir(above))
    except OSError:
        return
    for sibling in siblings[:SIBLING_LIMIT]:
        if sibling != name:
            try:
                os.symlink(os.path.join(above, sibling), os.path.join(parent, sibling))
            except OSError:
                continue


def _copy_tree(original: str, copy: str, mirror: Mirror, budget: _Budget) -> None:
    queue = deque([(original, copy)])
    while queue:
        src_dir, dst_dir = queue.popleft()
        try:
            entries = sorted(os.scandir(src_dir), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            dst = os.path.join(dst_dir, entry.name)
            budget.entries += 1
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    os.symlink(target, dst)
                    mirror.manifest[dst] = _stamp(dst) or ("link", 0, 0)
                    if not os.path.isdir(target):
                        mirror.originals[dst] = (target, _stamp(target, follow=True) or ("file", 0, 0))
                elif entry.is_dir():
                    if entry.name in SKIPPED:
                        continue
                    if entry.name in LINKED_WHOLE or budget.entries > ENTRY_LIMIT:
                        os.symlink(entry.path, dst)
                        continue
                    os.mkdir(dst)
                    queue.append((entry.path, dst))
                elif entry.is_file():
                    size = entry.stat().st_size
                    if size <= COPY_FILE_LIMIT and budget.copied + size <= COPY_TOTAL_LIMIT:
                        shutil.copy2(entry.path, dst)
                        budget.copied += size
                    else:
                        os.symlink(entry.path, dst)
                        mirror.originals[dst] = (entry.path, _stamp(entry.path, follow=True) or ("file", 0, 0))
                    stamp = _stamp(dst)
                    if stamp is not None:
                        mirror.manifest[dst] = stamp
            except OSError:
                continue  # unreadable entries stay out of the mirror, as they would fail in place too


#: Flags of an ``open`` that may change the file.
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: Audit events, other than ``open``, whose first argument is a path they change or remove.
_CHANGING = frozenset({"os.truncate", "os.chmod", "os.utime", "os.chown"})
_REMOVING = frozenset({"os.remove", "os.rmdir", "shutil.rmtree"})


def _path(arg: Any) -> str | None:
    """An audit event's path argument as text (None for a file descriptor)."""
    return os.fsdecode(arg) if isinstance(arg, (str, bytes, os.PathLike)) else None


class WriteGuard:
    """The child's audit hook while the script runs: it replaces a mirror link by a copy before the script
    writes to it, and records writes that reach folders outside fitdoctor's temporary folder.

    Args:
        private: fitdoctor's temporary folder (the mirror, the script's temp files, the result).
        mirrors: The mirror's copies (links in them are replaced by copies before a write).
        display_root: Paths under this folder are shown relative to it.
    """

    def __init__(self, private: str, mirrors: list[str], display_root: str) -> None:
        self.private = os.path.realpath(private) + os.sep
        self.mirrors = tuple(os.path.realpath(m) + os.sep for m in mirrors)
        self.display_root = display_root
        self.active = False
        self.writes: dict[str, str] = {}

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or not args:
            return
        path = _path(args[0])
        if path is None:
            return
        if event == "open":
            flags = args[2]
            if isinstance(flags, int) and flags & _WRITE_FLAGS:
                self._write(path, "created" if flags & os.O_CREAT else "modified", flags)
        elif event in _CHANGING:
            self._write(path, "modified", 0)
        elif event in _REMOVING:
            self._record(path, "deleted")
        elif event == "os.rename":
            target = _path(args[1])
            if target is not None:
                self._record(path, "deleted")
                self._write(target, "created", 0)
        elif event == "os.mkdir" and not os.path.isdir(path):
            # makedirs(exist_ok=True) of a folder that exists changes nothing.
            self._record(path, "created")

    def _write(self, path: str, change: str, flags: int) -> None:
        self.active = False  # our own file operations below must not re-enter
        try:
            full = os.path.abspath(path)
            if full.startswith(self.mirrors) and os.path.islink(full) and not os.path.isdir(full):
                target = os.path.realpath(full)
                os.unlink(full)
                if not flags & os.O_TRUNC:
                    shutil.copy2(target, full)
            self._record(path, change)
        except OSError:
            pass
        finally:
            self.active = True

    def _record(self, path: str, change: str) -> None:
        full = os.path.abspath(path)
        parent = os.path.realpath(os.path.dirname(full))
        real = os.path.join(parent, os.path.basename(full))
        if real.startswith(self.private) or real.startswith(("/dev/", "/proc/", "/sys/")):
            return
        if change == "created" and os.path.lexists(real):
            change = "modified"
        self.writes.setdefault(_show(real, self.display_root), change)

    def recorded(self) -> list[FileWrite]:
        """The writes that reached folders outside the mirror, in order of path."""
        return [FileWrite(path, change, True) for path, change in sorted(self.writes.items())]
