"""Downloads for plugins whose data has a public direct URL: resumable, checksummed, idempotent.

A plugin declares what to fetch as a class attribute ``downloads`` (a tuple of :class:`Source`), or
what to do by hand as ``manual_steps`` (lines of text) where the data needs an account or a
click-through licence. :func:`download_dataset` reads those attributes; plugins without them are
told to look at their own documentation.

Each file is written to ``<name>.part`` and renamed once complete and verified (md5 or sha256 when
the source publishes one, the announced length otherwise). An interrupted transfer resumes with an
HTTP ``Range`` request, from the same call (a few retries) or the next one. An archive is extracted
(never outside its destination: members with absolute paths, ``..`` or links that leave it are
refused) and then removed; a marker file ``.<name>.done`` makes the next call skip it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.errors import DownloadError

if TYPE_CHECKING:
    from hpstudy.datasets._base import Dataset

__all__ = [
    "DownloadError",
    "DownloadReport",
    "ProgressFn",
    "Source",
    "download_dataset",
    "download_source",
    "safe_extract",
]

#: ``on_progress(filename, bytes_done, bytes_total_or_None)``, called as bytes arrive.
ProgressFn = Callable[[str, int, "int | None"], None]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """One file to fetch into a dataset's root.

    Attributes:
        url: A public direct URL (``http``, ``https`` or ``file``).
        filename: Name to save it as; default: the last segment of the URL path, unquoted.
        md5: Published MD5 checksum, if any.
        sha256: Published SHA-256 checksum, if any (checked in preference to ``md5``).
        extract: Extract the archive (``.tar``, ``.tar.gz``, ``.tgz``, ``.zip``) and remove it.
        into: Sub-folder of the dataset root to put the file (or its contents) in.
    """

    url: str
    filename: str | None = None
    md5: str | None = None
    sha256: str | None = None
    extract: bool = False
    into: str = ""

    @property
    def name(self) -> str:
        if self.filename:
            return self.filename
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])


@dataclass
class DownloadReport:
    """What :func:`download_dataset` did: files fetched now, files already there, manual steps."""

    root: Path
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    manual_steps: tuple[str, ...] = ()


def _checksum_ok(path: Path, source: Source) -> bool:
    algo, expected = ("sha256", source.sha256) if source.sha256 else ("md5", source.md5)
    if not expected:
        return True
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest().lower() == expected.lower()


def _fetch(source: Source, part: Path, on_progress: ProgressFn | None, timeout: float) -> bool:
    """One attempt: append to ``part`` from where it ends. True when the file is complete."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(source.url, headers={"User-Agent": "hpstudy"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URL from plugin
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file is already whole
            return True
        raise DownloadError(f"{source.url}: HTTP {exc.code} {exc.reason}") from None
    with response:
        status = getattr(response, "status", 200)
        if have and status != 206:  # the server ignored the range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        with open(part, "ab" if have else "wb") as out:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    out.write(exc.partial)
                    return False
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(source.name, done, total)
    return total is None or done >= total


def download_source(
    source: Source,
    dest: Path,
    *,
    on_progress: ProgressFn | None = None,
    retries: int = 3,
    timeout: float = 60.0,
) -> bool:
    """Fetch ``source`` into folder ``dest`` unless its ``.done`` marker is there.

    Returns:
        ``True`` when it was fetched now, ``False`` when it was already there.

    Raises:
        DownloadError: If it cannot be fetched after ``retries`` resumed attempts, does not match
            its checksum (the partial file is removed) or is an unsafe archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / f".{source.name}.done"
    if marker.exists():
        return False
    final = dest / source.name
    part = dest / f"{source.name}.part"
    if not (final.exists() and _checksum_ok(final, source) and (source.md5 or source.sha256)):
        complete = False
        for attempt in range(retries + 1):
            try:
                complete = _fetch(source, part, on_progress, timeout)
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out
                if attempt == retries:
                    raise DownloadError(
                        f"{source.url}: {getattr(exc, 'reason', exc)}; run the command again to "
                        f"resume from {part.stat().st_size if part.exists() else 0} bytes"
                    ) from None
            if complete:
                break
            time.sleep(min(2.0**attempt * 0.1, 5.0))
        if not complete:
            raise DownloadError(
                f"{source.url}: the transfer stopped early {retries + 1} times; run the command "
                "again to resume"
            )
        if not _checksum_ok(part, source):
            part.unlink()
            raise DownloadError(
                f"{source.url}: checksum mismatch ({'sha256' if source.sha256 else 'md5'} "
                f"{source.sha256 or source.md5} expected); the file was removed, run again"
            )
        os.replace(part, final)
    if source.extract:
        safe_extract(final, dest)
        final.unlink()
    marker.write_text((source.sha256 or source.md5 or "") + "\n")
    return True


def _inside(base: Path, name: str) -> bool:
    target = (base / name).resolve()
    return target == base or base in target.parents


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar (optionally gzip/bz2/xz) or zip archive into ``dest``.

    Raises:
        DownloadError: If a member has an absolute path, climbs out with ``..``, is a link that
            points outside ``dest`` or is a device file; nothing is extracted then.
    """
    base = dest.resolve()
    name = archive.name
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or not _inside(base, member):
                    raise DownloadError(
                        f"{name}: member {member!r} would be written outside {dest}"
                    )
            zf.extractall(dest)
        return
    try:
        tf = tarfile.open(archive)  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise DownloadError(f"{name} is neither a zip nor a tar archive ({exc})") from None
    with tf:
        for m in tf.getmembers():
            bad = (
                m.name.startswith("/")
                or not _inside(base, m.name)
                or (m.issym() and not _inside(base, str(Path(m.name).parent / m.linkname)))
                or (m.islnk() and not _inside(base, m.linkname))
                or m.isdev()
            )
            if bad:
                raise DownloadError(f"{name}: member {m.name!r} would be written outside {dest}")
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
        else:  # pragma: no cover - Python < 3.11.4; members were checked above
            tf.extractall(dest)


def download_dataset(
    dataset: Dataset,
    data_root: str | Path | None = None,
    *,
    on_progress: ProgressFn | None = None,
) -> DownloadReport:
    """Download a dataset's declared sources into its default root under ``data_root``.

    Plugins that need a manual step return a report whose ``manual_steps`` say what to do; nothing
    is fetched for them.

    Args:
        dataset: The plugin.
        data_root: The shared data root; default ``$HPSTUDY_DATA`` or ``~/hpstudy-data``.
        on_progress: Called as bytes arrive.

    Raises:
        DownloadError: If a download fails (see :func:`download_source`) or the plugin declares
            neither downloads nor manual steps.
    """
    from hpstudy.datasets._resolve import default_data_root

    base = Path(data_root).expanduser() if data_root is not None else default_data_root()
    root = dataset.default_root(base)
    sources, steps = tuple(dataset.downloads), tuple(dataset.manual_steps)
    report = DownloadReport(root=root, manual_steps=() if sources else steps)
    if not sources:
        if not steps:
            raise DownloadError(
                f"dataset {dataset.name!r} declares no download; see its plugin's documentation"
            )
        return report
    for source in sources:
        dest = root / source.into if source.into else root
        fetched = download_source(source, dest, on_progress=on_progress)
        (report.fetched if fetched else report.present).append(source.name)
    return report
