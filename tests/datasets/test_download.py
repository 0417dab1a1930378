"""Downloads against a loopback HTTP server: resume, checksum, idempotence, safe extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpstudy.cli import cli
from hpstudy.datasets import (
    DownloadError,
    Source,
    download_dataset,
    download_source,
    get_dataset,
    register_dataset,
    unregister_dataset,
)


class Server:
    """Serves ``files`` on 127.0.0.1 with Range support; can cut the next responses short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_next = 0  # responses to cut after half their body
        self.ignore_range = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and not outer.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if outer.cut_next:
                    outer.cut_next -= 1
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


def _blob(n: int = 300_000) -> bytes:
    return bytes(range(256)) * (n // 256)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - the checksum the source publishes


def test_download_checksum_and_idempotence(server: Server, tmp_path: Path) -> None:
    data = _blob()
    server.files["/a.bin"] = data
    src = Source(server.url + "/a.bin", sha256=hashlib.sha256(data).hexdigest())
    assert download_source(src, tmp_path) is True
    assert (tmp_path / "a.bin").read_bytes() == data
    assert not (tmp_path / "a.bin.part").exists()
    n = len(server.requests)
    assert download_source(src, tmp_path) is False  # marker: nothing requested again
    assert len(server.requests) == n


def test_interrupted_transfer_resumes_with_a_range_request(server: Server, tmp_path: Path) -> None:
    data = _blob()
    server.files["/b.bin"] = data
    server.cut_next = 1
    assert download_source(Source(server.url + "/b.bin", md5=_md5(data)), tmp_path)
    assert (tmp_path / "b.bin").read_bytes() == data
    ranges = [r for _, r in server.requests if r]
    assert ranges == [f"bytes={len(data) // 2}-"]


def test_part_file_from_an_earlier_run_is_resumed(server: Server, tmp_path: Path) -> None:
    data = _blob()
    server.files["/c.bin"] = data
    (tmp_path / "c.bin.part").write_bytes(data[:1000])
    download_source(Source(server.url + "/c.bin", md5=_md5(data)), tmp_path)
    assert server.requests == [("/c.bin", "bytes=1000-")]
    assert (tmp_path / "c.bin").read_bytes() == data


def test_server_ignoring_range_starts_over(server: Server, tmp_path: Path) -> None:
    data = _blob()
    server.files["/d.bin"] = data
    server.ignore_range = True
    (tmp_path / "d.bin.part").write_bytes(b"stale bytes")
    download_source(Source(server.url + "/d.bin", md5=_md5(data)), tmp_path)
    assert (tmp_path / "d.bin").read_bytes() == data


def test_checksum_mismatch_is_an_error_and_removes_the_part(server: Server, tmp_path: Path) -> None:
    server.files["/e.bin"] = _blob()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_source(Source(server.url + "/e.bin", md5="0" * 32), tmp_path)
    assert not list(tmp_path.iterdir())


def test_unreachable_url_is_one_line_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_source(Source(server.url + "/nope.bin"), tmp_path)


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_archive_with_path_traversal_is_refused(server: Server, tmp_path: Path) -> None:
    server.files["/evil.tar.gz"] = _tar({"ok.txt": b"x", "../evil.txt": b"pwned"})
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match="outside"):
        download_source(Source(server.url + "/evil.tar.gz", extract=True), dest)
    assert not (tmp_path / "evil.txt").exists() and not (dest / "ok.txt").exists()


def test_pets_downloads_extracts_and_loads(server: Server, tmp_path: Path) -> None:
    """The real pets plugin, its sources pointed at the loopback server."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "plugins"))
    from hpstudy_datasets import PetsDataset
    from test_pets import make_pets

    staged = tmp_path / "staged"
    make_pets(staged)
    archives = {}
    for name in ("images", "annotations"):
        members = {str(p.relative_to(staged)): p.read_bytes()
                   for p in sorted((staged / name).rglob("*")) if p.is_file()}
        archives[name] = _tar(members)
        server.files[f"/{name}.tar.gz"] = archives[name]

    class LocalPets(PetsDataset):
        downloads = tuple(
            Source(f"{server.url}/{n}.tar.gz", md5=_md5(archives[n]), extract=True)
            for n in ("images", "annotations")
        )

    register_dataset(LocalPets, replace=True)
    try:
        data_root = tmp_path / "data"
        runner = CliRunner()
        result = runner.invoke(cli, ["datasets", "download", "pets", "--data-root", str(data_root)])
        assert result.exit_code == 0, result.output
        assert "downloaded: images.tar.gz" in result.stdout
        root = data_root / "pets"
        assert not (root / "images.tar.gz").exists()  # extracted, then removed
        splits = get_dataset("pets").load(root)
        assert len(splits.train) == 9 and len(splits.valid) == 6
        again = runner.invoke(cli, ["datasets", "download", "pets", "--data-root", str(data_root)])
        assert again.exit_code == 0 and "already there: annotations.tar.gz" in again.stdout
    finally:
        unregister_dataset("pets")
        sys.path.remove(str(Path(__file__).parents[1] / "plugins"))


def test_manual_datasets_print_the_steps(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["datasets", "download", "amazon", "--data-root",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "kaggle competitions download -c planet-understanding-the-amazon-from-space" in (
        result.stdout.replace("\n", " ").replace("  ", " "))
    report = download_dataset(get_dataset("protein"), tmp_path)
    assert report.manual_steps and not report.fetched


def test_public_sources_are_declared_with_checksums() -> None:
    for name in ("pets", "tiny-imagenet"):
        sources = get_dataset(name).downloads
        assert sources and all(s.md5 or s.sha256 for s in sources)
    qd = get_dataset("quickdraw").downloads
    assert len(qd) == 345 and qd[2].url.endswith("/alarm%20clock.npy")
    assert qd[2].name == "alarm clock.npy"
