"""An image that passes a plugin's cheap check but fails to decode never stops training."""

from __future__ import annotations

from pathlib import Path

import pytest
from hpstudy_datasets import PetsDataset
from test_pets import make_pets

from hpstudy.training import decode_split


def test_undecodable_image_is_skipped_and_reported_once(tmp_path: Path) -> None:
    make_pets(tmp_path)
    victim = tmp_path / "images" / "Bengal_1.jpg"
    victim.write_bytes(b"\xff\xd8\xff" + b"\x00garbage" * 20 + b"\xff\xd9")  # whole-looking JPEG
    ds = PetsDataset()
    splits = ds.load(tmp_path)
    assert "images/Bengal_1.jpg" in {s.item for s in splits.train}  # the cheap check passes it
    expected = r"1 of 9 images could not be decoded and are skipped.*Bengal_1"
    with pytest.warns(RuntimeWarning, match=expected) as w:
        decoded = decode_split(ds, tmp_path, splits.train, splits.classes, 16)
    assert len(w) == 1
    row = [s.item for s in splits.train].index("images/Bengal_1.jpg")
    assert len(decoded) == len(splits.train) - 1 and row not in decoded.rows.tolist()
    # Positions of the plugin's sample list stay valid: selecting drops only the damaged one.
    assert decoded.select(range(len(splits.train))).rows.tolist() == decoded.rows.tolist()
