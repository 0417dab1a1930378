"""``pets`` on a fixture in the Oxford-IIIT Pet layout."""

from __future__ import annotations

from pathlib import Path

from hpstudy_datasets import PetsDataset

from hpstudy.testing import DatasetConformance, FixtureInfo, write_image

BREEDS = ("Abyssinian", "Bengal", "american_bulldog")


def make_pets(root: Path, per_split: tuple[int, int] = (3, 2)) -> FixtureInfo:
    """Images named <Breed>_<n>.jpg and the two official lists (one line names a missing file)."""
    lines: dict[str, list[str]] = {"trainval": ["#Image CLASS-ID SPECIES BREED ID"], "test": []}
    n_train, n_test = per_split
    for b, breed in enumerate(BREEDS):
        species = 1 if breed[0].isupper() else 2
        for i in range(1, n_train + n_test + 1):
            stem = f"{breed}_{i}"
            write_image(root / "images" / f"{stem}.jpg", (20 + i, 16 + b), seed=i * 7 + b)
            split = "trainval" if i <= n_train else "test"
            lines[split].append(f"{stem} {b + 1} {species} {b + 1}")
    write_image(root / "images" / "Bengal_99.jpg")  # in no list: not used, not skipped
    lines["trainval"].append("Bengal_100 2 1 2")  # listed, but its image is missing
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, rows in lines.items():
        (root / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return FixtureInfo(
        images=len(BREEDS) * (n_train + n_test),
        classes=len(BREEDS),
        labels=BREEDS,
        train=len(BREEDS) * n_train,
        valid=len(BREEDS) * n_test,
        skipped=1,
    )


class TestPets(DatasetConformance):
    plugin = PetsDataset

    def make_fixture(self, root: Path) -> FixtureInfo:
        return make_pets(root)


def test_official_split_follows_the_lists(tmp_path: Path) -> None:
    make_pets(tmp_path)
    splits = PetsDataset().load(tmp_path)
    assert {s.item for s in splits.valid} == {
        f"images/{b}_{i}.jpg" for b in BREEDS for i in (4, 5)
    }
    assert splits.classes == ("Abyssinian", "american_bulldog", "Bengal")
    assert splits.skipped_examples == ("images/Bengal_100.jpg: file missing",)
