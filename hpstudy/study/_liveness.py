"""Whether a process on this host is still alive: a worker that owns a trial, a lock's holder.

A process is named by its host, its pid and a *start token*: the kernel's boot id, the pid
namespace and the process's start time (clock ticks since boot, field 22 of ``/proc/<pid>/stat``).
The token is recorded when the process takes something (a trial, a lock). Later, on the same host,
a process with that pid and the same token is the one that took it; a missing pid, a zombie, or a
pid with another start time (reused after the owner died) is not. A process of another boot, in
another pid namespace (a container sharing the host name) or on another host cannot be told:
:func:`is_alive` then says ``None`` and callers rely on heartbeats. Without ``/proc`` (macOS)
``psutil`` gives the start time when it is installed; otherwise no token is recorded.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

__all__ = ["is_alive", "process_token"]


@functools.cache
def _namespace() -> str | None:
    """This kernel boot and pid namespace, the prefix of every token recorded here."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return f"psutil-boot-{psutil.boot_time():.0f}"


def _start_time(pid: int) -> str | None:
    """When ``pid`` started, or ``None`` when there is no such process (or only its zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        if Path("/proc/self/stat").exists():
            return None  # /proc works: the process is gone
    else:
        return None if fields[0] in ("Z", "X") else fields[19]
    try:
        import psutil

        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else f"{proc.create_time():.3f}"
    except (ImportError, psutil.Error):
        return None


def process_token(pid: int | None = None) -> str | None:
    """The start token of ``pid`` (default: this process), or ``None`` when it cannot be read."""
    namespace = _namespace()
    started = _start_time(os.getpid() if pid is None else pid)
    if namespace is None or started is None:
        return None
    return f"{namespace}/{started}"


def is_alive(host: str | None, pid: int | None, token: str | None) -> bool | None:
    """Whether the process recorded as (``host``, ``pid``, ``token``) still runs.

    Returns:
        ``True`` or ``False`` for a process of this host (same boot and pid namespace); ``None``
        when that cannot be told (another host or namespace, nothing recorded, no ``/proc``).
    """
    namespace = _namespace()
    if host != socket.gethostname() or pid is None or not token or namespace is None:
        return None
    if token.rpartition("/")[0] != namespace:
        return None  # another boot or pid namespace (or another machine with this host name)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return token == process_token(int(pid))
