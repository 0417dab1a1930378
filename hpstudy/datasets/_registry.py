"""Finds dataset plugins: runtime registrations first, then the ``hpstudy.datasets`` entry points."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

from hpstudy.datasets._base import Dataset, Task
from hpstudy.errors import PluginError, UnknownDatasetError

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenPlugin",
    "PluginInfo",
    "available_datasets",
    "broken_plugins",
    "get_dataset",
    "register_dataset",
    "unregister_dataset",
]

ENTRY_POINT_GROUP = "hpstudy.datasets"


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin and the distribution that provides it (``"runtime"`` when registered in code)."""

    name: str
    dataset: Dataset
    distribution: str


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that could not be loaded, or whose plugin the registry refused (``refused``:
    an unknown metric, a task that is not a :class:`Task`, a bad name), kept so it can be reported.

    ``error`` is the import error, or for a refused plugin its problems and their fixes;
    ``entry_point`` is the entry point's ``module:attribute``.
    """

    name: str
    distribution: str
    error: str
    entry_point: str = ""
    refused: bool = False

    @property
    def message(self) -> str:
        """One line for a user who asked for this plugin by name: what is wrong and the fix."""
        if self.refused:
            return _refusal(self.name, f"{self.entry_point} from {self.distribution}", self.error)
        return (
            f"dataset plugin {self.name!r} from {self.distribution} failed to load ({self.error}); "
            f"fix or reinstall {self.distribution} (`hpstudy datasets` lists every plugin)"
        )

    @property
    def warning(self) -> str:
        """One line for a listing of every plugin: what is wrong, and that the plugin is skipped."""
        if self.refused:
            return _refusal(self.name, f"{self.entry_point} from {self.distribution}", self.error,
                            skipped=True)
        return (f"dataset plugin {self.name!r} from {self.distribution} failed to load and is "
                f"skipped ({self.error})")


_runtime: dict[str, PluginInfo] = {}


def register_dataset(dataset: type[Dataset] | Dataset, *, replace: bool = False) -> Dataset:
    """Register a plugin in this process, ahead of the entry points (tests and notebooks use this).

    Args:
        dataset: A :class:`Dataset` subclass or instance.
        replace: Allow replacing an earlier runtime registration of the same name.

    Returns:
        The registered instance.

    Raises:
        TypeError: If ``dataset`` is not a :class:`Dataset`.
        PluginError: If its name, task, metric or extra metrics are not ones hpstudy can use (the
            message names each bad value and the allowed ones).
        ValueError: If the name is taken by another runtime registration and ``replace`` is false.
    """
    instance = dataset() if isinstance(dataset, type) else dataset
    _validate(instance)
    problems = _problems(instance)
    if problems:
        cls = type(instance)
        raise PluginError(_refusal(getattr(instance, "name", "?"),
                                   f"{cls.__module__}:{cls.__qualname__}, registered at runtime",
                                   "; ".join(problems)))
    if instance.name in _runtime and not replace:
        raise ValueError(
            f"dataset {instance.name!r} is already registered at runtime; "
            "pass replace=True or unregister_dataset() it first"
        )
    _runtime[instance.name] = PluginInfo(instance.name, instance, "runtime")
    return instance


def unregister_dataset(name: str) -> None:
    """Remove a runtime registration; unknown names are ignored."""
    _runtime.pop(name, None)


def _validate(dataset: object) -> None:
    if not isinstance(dataset, Dataset):
        raise TypeError(f"{dataset!r} is not a hpstudy.datasets.Dataset")


def _problems(dataset: Dataset) -> list[str]:
    """What makes a plugin unusable, each with its fix: checked when the registry loads it, so a
    misspelt metric is one line at load time rather than a failure inside every trial."""
    from hpstudy.metrics import METRICS

    cls = type(dataset).__name__
    problems = []
    name = getattr(dataset, "name", None)
    if not isinstance(name, str) or not name or name != name.strip() or " " in name:
        problems.append(f"name {name!r} is not a non-empty string without spaces; set {cls}.name "
                        "to the name users pass to --dataset, e.g. 'mydata'")
    task = getattr(dataset, "task", None)
    if not isinstance(task, Task):
        allowed = " or ".join(f"Task.{t.name}" for t in Task)
        problems.append(f"task {task!r} is not a hpstudy.datasets.Task; set {cls}.task = {allowed}")
    known = ", ".join(sorted(METRICS))
    metric = getattr(dataset, "metric", None)
    if not isinstance(metric, str) or metric not in METRICS:
        problems.append(f"metric {metric!r} is not a metric of hpstudy.metrics; set {cls}.metric "
                        f"to one of {known}")
    extra = getattr(dataset, "extra_metrics", ())
    if not isinstance(extra, tuple | list):
        problems.append(f"extra_metrics {extra!r} is not a tuple of metric names; set "
                        f"{cls}.extra_metrics to a tuple of names among {known}")
    else:
        unknown = [m for m in extra if not isinstance(m, str) or m not in METRICS]
        if unknown:
            problems.append(f"extra_metrics {', '.join(map(repr, unknown))} "
                            f"{'is not a metric' if len(unknown) == 1 else 'are not metrics'} of "
                            f"hpstudy.metrics; set {cls}.extra_metrics to names among {known}")
    return problems


def _refusal(name: object, origin: str, problems: str, *, skipped: bool = False) -> str:
    refused = "is refused and skipped" if skipped else "is refused"
    return f"dataset plugin {name!r} ({origin}) {refused}: {problems}"


def _scan() -> tuple[dict[str, PluginInfo], list[BrokenPlugin]]:
    found: dict[str, PluginInfo] = {}
    broken: list[BrokenPlugin] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in found:  # the same plugin seen twice (e.g. an editable and a regular install)
            continue
        try:
            obj = ep.load()
            instance = obj() if isinstance(obj, type) else obj
            _validate(instance)
            problems = _problems(instance)
        except Exception as exc:  # a broken third-party plugin must never break hpstudy
            broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}", ep.value))
            continue
        if problems:  # refused: reported like one that fails to import, under the name users ask
            name = instance.name if isinstance(getattr(instance, "name", None), str) else ep.name
            broken.append(BrokenPlugin(name, dist, "; ".join(problems), ep.value, refused=True))
            continue
        found[instance.name] = PluginInfo(instance.name, instance, dist)
    return found, broken


def _all(
    scanned: tuple[dict[str, PluginInfo], list[BrokenPlugin]] | None = None,
) -> dict[str, PluginInfo]:
    found, broken = scanned or _scan()
    for b in broken:
        warnings.warn(b.warning, RuntimeWarning, stacklevel=3)
    return {**found, **_runtime}


def available_datasets() -> dict[str, PluginInfo]:
    """Every loadable plugin by name, sorted; broken and refused plugins are warned about and left
    out."""
    return dict(sorted(_all().items()))


def broken_plugins() -> list[BrokenPlugin]:
    """The entry points that failed to load or were refused, with their error."""
    return _scan()[1]


def get_dataset(name: str) -> Dataset:
    """Return the plugin registered as ``name``.

    Raises:
        UnknownDatasetError: With the list of known names, or, when the plugin registered as
            ``name`` failed to import, with its import error as the cause.
        PluginError: When the registry refused the plugin registered as ``name`` (an unknown
            metric, a task that is not a :class:`Task`): its problems and their fixes.
    """
    if name in _runtime:
        return _runtime[name].dataset
    found, broken = _scan()
    failed = next((b for b in broken if b.name == name), None)
    if name not in found and failed is not None:
        raise (PluginError if failed.refused else UnknownDatasetError)(failed.message)
    plugins = _all((found, broken))
    if name not in plugins:
        known = ", ".join(sorted(plugins)) or "none"
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {known} "
            "(install a plugin that provides it, or check `hpstudy datasets`)"
        )
    return plugins[name].dataset
