"""The ImageNet checkpoint of a pretrained spec: found in the torch hub cache, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpstudy.errors import HpstudyError
from hpstudy.training import pretrained_checkpoint, require_pretrained_weights


def test_the_checkpoint_is_where_torchvision_looks(offline_hub: Path) -> None:
    url, path = pretrained_checkpoint("resnet34")
    assert url == "https://download.pytorch.org/models/resnet34-b627a593.pth"
    assert path == offline_hub / "resnet34-b627a593.pth"


def test_a_checkpoint_in_the_hub_cache_is_used_without_a_download(offline_hub: Path) -> None:
    offline_hub.mkdir(parents=True)
    (offline_hub / "resnet18-f37072fd.pth").write_bytes(b"weights")
    assert require_pretrained_weights("resnet18") == offline_hub / "resnet18-f37072fd.pth"


def test_a_missing_checkpoint_offline_names_the_file_and_folder(offline_hub: Path) -> None:
    with pytest.raises(HpstudyError) as err:
        require_pretrained_weights("resnet18")
    message = str(err.value)
    assert message.startswith("could not load ImageNet weights for resnet18 (")
    assert "put the torchvision checkpoint resnet18-f37072fd.pth" in message
    assert f"in {offline_hub} ($TORCH_HOME/hub/checkpoints) or set pretrained = false" in message
    assert "\n" not in message and not list(offline_hub.glob("*"))
