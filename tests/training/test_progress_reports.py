"""Long library calls report their progress to a listener (the CLI's bars), and to nobody else."""

from __future__ import annotations

from _tiny import digits_settings

from hpstudy.progress import listen, report
from hpstudy.study import LrFindSettings
from hpstudy.training import Hyperparams, backbone_features, find_lr


def test_lr_sweeps_and_feature_extraction_report_each_step(tiny_digits) -> None:  # noqa: ANN001
    seen: list[tuple[str, int, int]] = []
    with listen(lambda *r: seen.append(r)):
        result = find_lr(*tiny_digits, Hyperparams(1e-3, 10, 0.1, 0.99, 0.5), digits_settings(),
                         LrFindSettings(start_lr=1e-5, num_it=12, valid_images=32, repeats=2,
                                        loss="train"))
        backbone_features(tiny_digits[1], "resnet18", pretrained=False, batch_size=8)
    sweeps = [done for task, done, total in seen if task == "lr sweep" and total == 12]
    points = [run["points"] for run in result.details["runs"]]
    assert len(sweeps) == sum(points)  # one report a step of each of the two sweeps
    assert sweeps[-1] == 12  # ended: the bar completes even when the sweep stopped early
    features = [(done, total) for task, done, total in seen if task == "features"]
    assert features == [(8, 32), (16, 32), (24, 32), (32, 32)]
    seen.clear()
    report("outside", 1, 2)  # no listener any more: nothing is sent anywhere
    assert seen == []
