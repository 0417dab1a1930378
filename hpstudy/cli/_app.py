"""The application object every command receives (``ctx.obj``, hatch's pattern): what the commands
share beyond their options, so a command body is a few lines over the library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

__all__ = ["Application", "pass_app"]


@dataclass
class Application:
    """What the ``hpstudy`` group builds once per invocation and hands to its commands (output goes
    through :mod:`hpstudy.cli._console`)."""

    def storage(self, url: str | None, *, create: bool = False) -> Any:  # noqa: ANN401 - RDBStorage
        """The study storage at ``url`` (default: ``$HPSTUDY_STORAGE``, else ``sqlite:///hpstudy.db``).

        Raises:
            StorageError: If it cannot be opened, or (``create=False``) does not exist.
        """
        from hpstudy.study import open_storage, resolve_storage_url

        return open_storage(resolve_storage_url(url), create=create)

    def feature_config(self, spec: str, *, data_root: str | None, device: str,
                       cache_dir: str | None, batch_size: int) -> Any:  # noqa: ANN401
        """The proximity features of ``spec``'s backbone (a :class:`FeatureConfig`) on ``device``."""
        from hpstudy.proximity import FeatureConfig
        from hpstudy.study import load_spec
        from hpstudy.training import resolve_device

        return FeatureConfig.from_spec(load_spec(spec), device=resolve_device(device),
                                       data_root=data_root, cache_dir=cache_dir,
                                       batch_size=batch_size)


#: Decorator: pass the command the :class:`Application` (built by the group when missing).
pass_app = click.make_pass_decorator(Application, ensure=True)
