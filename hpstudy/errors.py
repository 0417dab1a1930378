"""The one exception hierarchy of hpstudy.

Every error a user can cause (a wrong name, a bad spec, missing data, an unreachable database) is a
:class:`HpstudyError`. Its message is one line that names the offending value and says how to fix it;
the CLI prints it as is and exits non-zero, without a traceback. Anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "HpstudyError",
    "UnknownDatasetError",
    "PluginError",
    "DataNotFoundError",
    "SpecError",
    "UnknownStudyError",
    "HostError",
    "StorageError",
    "StudyMismatchError",
    "ReferenceMismatchError",
    "DownloadError",
]


class HpstudyError(Exception):
    """Base class of every error hpstudy raises for a user's mistake."""


class UnknownDatasetError(HpstudyError, LookupError):
    """A dataset name that no plugin registers."""


class PluginError(HpstudyError, ValueError):
    """A dataset plugin the registry refuses: a name, task, metric or extra metric hpstudy cannot
    use. The message names the plugin, where it comes from, the bad value and the allowed ones."""


class DataNotFoundError(HpstudyError, FileNotFoundError):
    """A dataset's files are not where its plugin expects them."""


class SpecError(HpstudyError, ValueError):
    """A study spec that is malformed or inconsistent."""


class UnknownStudyError(HpstudyError, LookupError):
    """A study spec name that is neither packaged nor a file, or a study missing from storage."""


class HostError(HpstudyError):
    """This host cannot go on: a full disk or an unwritable folder under the cache, the storage or
    the artifacts. Every trial would fail the same way, so a worker stops on it (one line, the
    trial released without using an attempt) instead of burning every point's attempts."""


class StorageError(HostError):
    """The study storage cannot be reached or used."""


class StudyMismatchError(HpstudyError):
    """A stored study was created from a different spec than the one given now."""


class ReferenceMismatchError(HpstudyError):
    """A proximity reference that was computed with another backbone, weights or image size."""


class DownloadError(HpstudyError):
    """A download that failed, did not verify, or an archive that would write outside its folder."""
