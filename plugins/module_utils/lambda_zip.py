# Copyright: (c) 2026, Smart City Platform Team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reproducible AWS Lambda deployment zips: pure zip-building logic, no AnsibleModule.

Same inputs give byte-identical zips: entries sorted by archive path, fixed timestamp, fixed permissions,
fixed compression level, Unix "made by" system, no directory entries, no extra fields, no comments.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import os
import posixpath
import stat
import unicodedata
import zipfile
from dataclasses import dataclass

ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_COMPRESS_LEVEL = 9
ZIP_CREATE_SYSTEM_UNIX = 3
FILE_MODE = 0o644
EXEC_MODE = 0o755

DEFAULT_EXCLUDE = ["__pycache__", "*.pyc", "*.pyo", "requirements*.txt", "tests", ".*"]

# Wheel ``<dist>.data/<category>/`` directories whose content pip installs into the import root.
_WHEEL_ROOT_DATA_CATEGORIES = ("purelib", "platlib")


class LambdaZipError(Exception):
    """A source tree or wheel cannot be packaged (the message names the offending path)."""


@dataclass(frozen=True)
class ZipMember:
    """One file of the package: its path in the archive, its bytes, and where it came from."""

    arcname: str
    data: bytes
    executable: bool
    origin: str


def is_excluded(rel_path: str, patterns: list[str]) -> bool:
    """True when any component of the POSIX relative path, or the whole path, matches a glob pattern."""
    parts = rel_path.split("/")
    for pattern in patterns:
        if fnmatch.fnmatchcase(rel_path, pattern):
            return True
        if any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
    return False


def _archive_name(rel_path: str) -> str:
    """Normalise a relative path to the archive form: ``/`` separators, Unicode NFC (macOS uses NFD)."""
    return unicodedata.normalize("NFC", rel_path.replace(os.sep, "/"))


def collect_source(src: str, patterns: list[str]) -> list[ZipMember]:
    """Read every non-excluded regular file below ``src``.

    Symlinks to files are read through; symlinked directories are not descended into.
    """
    members = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        rel_dir = "" if rel_dir == "." else _archive_name(rel_dir)
        dirnames[:] = sorted(d for d in dirnames if not is_excluded(posixpath.join(rel_dir, d), patterns))
        for filename in sorted(filenames):
            rel_path = posixpath.join(rel_dir, _archive_name(filename))
            if is_excluded(rel_path, patterns):
                continue
            path = os.path.join(dirpath, filename)
            try:
                st = os.stat(path)
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise LambdaZipError(f"cannot read source file {path}: {exc}") from exc
            members.append(ZipMember(rel_path, data, bool(st.st_mode & 0o111), path))
    return members


def safe_member_name(name: str, wheel: str) -> str:
    """Return a wheel member name if it stays inside the package root, else raise LambdaZipError."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or (len(name) > 1 and name[1] == ":")
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise LambdaZipError(f"wheel {wheel} has an unsafe member path {name!r} (absolute or with '..')")
    return name


def wheel_target_name(name: str) -> str | None:
    """Map a wheel member to its path below the package root, as ``pip install --target`` places it.

    ``<dist>.data/purelib/`` and ``<dist>.data/platlib/`` content goes to the root; the other ``.data``
    categories (scripts, headers, data) are not importable and are left out.
    """
    parts = name.split("/")
    if len(parts) >= 2 and parts[0].endswith(".data"):
        if len(parts) >= 3 and parts[1] in _WHEEL_ROOT_DATA_CATEGORIES:
            return "/".join(parts[2:])
        return None
    return name


def collect_wheel(wheel_path: str) -> list[ZipMember]:
    """Read the members of one wheel (``*.dist-info`` included), rejecting paths that escape the root."""
    wheel = os.path.basename(wheel_path)
    members = []
    try:
        with zipfile.ZipFile(wheel_path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                target = wheel_target_name(safe_member_name(info.filename, wheel))
                if target is None:
                    continue
                mode = info.external_attr >> 16
                members.append(ZipMember(target, zf.read(info), bool(mode & 0o111), f"{wheel}:{info.filename}"))
    except zipfile.BadZipFile as exc:
        raise LambdaZipError(f"{wheel} is not a valid wheel: {exc}") from exc
    return members


def merge_members(source: list[ZipMember], wheels: list[ZipMember]) -> list[ZipMember]:
    """Combine source and wheel files sorted by archive path; any collision with a source file fails.

    Two wheels may ship the same path only with identical bytes (pip would silently overwrite otherwise).
    """
    merged = {}
    for member in source:
        merged[member.arcname] = member
    source_names = set(merged)
    for member in wheels:
        other = merged.get(member.arcname)
        if other is None:
            merged[member.arcname] = member
        elif member.arcname in source_names:
            raise LambdaZipError(
                f"{member.arcname} is both a source file ({other.origin}) and in a dependency ({member.origin})"
            )
        elif other.data != member.data:
            raise LambdaZipError(
                f"{member.arcname} is shipped with different content by two dependencies ({other.origin}, {member.origin})"
            )
    return [merged[name] for name in sorted(merged)]


def _zip_info(member: ZipMember) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(member.arcname, date_time=ZIP_DATE_TIME)
    info.create_system = ZIP_CREATE_SYSTEM_UNIX
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = EXEC_MODE if member.executable else FILE_MODE
    info.external_attr = (stat.S_IFREG | mode) << 16
    return info


def build_zip(members: list[ZipMember]) -> bytes:
    """Return the bytes of a deterministic zip holding ``members`` sorted by archive path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for member in sorted(members, key=lambda m: m.arcname):
            zf.writestr(_zip_info(member), member.data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=ZIP_COMPRESS_LEVEL)
    return buffer.getvalue()


def zip_digests(data: bytes) -> tuple[str, str]:
    """Return (hex sha256, base64 sha256 digest as AWS Lambda reports it in CodeSha256)."""
    digest = hashlib.sha256(data).digest()
    return digest.hex(), base64.b64encode(digest).decode("ascii")
