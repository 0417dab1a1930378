"""Finds dataset plugins: runtime registrations first, then the ``hpstudy.datasets`` entry points."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

from hpstudy.datasets._base import Dataset
from hpstudy.errors import UnknownDatasetError

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
    """An entry point that could not be loaded, kept so it can be reported."""

    name: str
    distribution: str
    error: str


_runtime: dict[str, PluginInfo] = {}


def register_dataset(dataset: type[Dataset] | Dataset, *, replace: bool = False) -> Dataset:
    """Register a plugin in this process, ahead of the entry points (tests and notebooks use this).

    Args:
        dataset: A :class:`Dataset` subclass or instance.
        replace: Allow replacing an earlier runtime registration of the same name.

    Returns:
        The registered instance.

    Raises:
        ValueError: If the name is taken by another runtime registration and ``replace`` is false.
    """
    instance = dataset() if isinstance(dataset, type) else dataset
    _validate(instance)
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
    name = getattr(dataset, "name", None)
    if not isinstance(name, str) or not name or name != name.strip() or " " in name:
        raise TypeError(f"{type(dataset).__name__}.name must be a non-empty string without spaces")


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
        except Exception as exc:  # a broken third-party plugin must never break hpstudy
            broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        found[instance.name] = PluginInfo(instance.name, instance, dist)
    return found, broken


def _all(
    scanned: tuple[dict[str, PluginInfo], list[BrokenPlugin]] | None = None,
) -> dict[str, PluginInfo]:
    found, broken = scanned or _scan()
    for b in broken:
        warnings.warn(
            f"dataset plugin {b.name!r} from {b.distribution} failed to load and is skipped "
            f"({b.error})",
            RuntimeWarning,
            stacklevel=3,
        )
    return {**found, **_runtime}


def available_datasets() -> dict[str, PluginInfo]:
    """Every loadable plugin by name, sorted; broken plugins are warned about and left out."""
    return dict(sorted(_all().items()))


def broken_plugins() -> list[BrokenPlugin]:
    """The entry points that failed to load, with their error."""
    return _scan()[1]


def get_dataset(name: str) -> Dataset:
    """Return the plugin registered as ``name``.

    Raises:
        UnknownDatasetError: With the list of known names, or, when the plugin registered as
            ``name`` failed to import, with its import error as the cause.
    """
    if name in _runtime:
        return _runtime[name].dataset
    found, broken = _scan()
    failed = next((b for b in broken if b.name == name), None)
    if name not in found and failed is not None:
        raise UnknownDatasetError(
            f"dataset plugin {name!r} from {failed.distribution} failed to load ({failed.error}); "
            f"fix or reinstall {failed.distribution} (`hpstudy datasets` lists every plugin)"
        )
    plugins = _all((found, broken))
    if name not in plugins:
        known = ", ".join(sorted(plugins)) or "none"
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {known} "
            "(install a plugin that provides it, or check `hpstudy datasets`)"
        )
    return plugins[name].dataset
