"""A learner's complete state, taken and compared: what the finder must leave exactly as it was."""

from __future__ import annotations

import copy
import random

import numpy as np
import torch


def snapshot(learn) -> dict:  # noqa: ANN001
    return {
        "weights": {k: v.clone() for k, v in learn.model.state_dict().items()},
        "grads": [None if p.grad is None else p.grad.clone() for p in learn.model.parameters()],
        "requires_grad": [p.requires_grad for p in learn.model.parameters()],
        "modes": [m.training for m in learn.model.modules()],
        "opt_state": [copy.deepcopy(learn.opt.state[p]) for p in learn.model.parameters()],
        "hypers": [dict(h) for h in learn.opt.hypers],
        "epoch": learn.dls.train._epoch,
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }


def assert_same(before: dict, after: dict) -> None:
    assert before["weights"].keys() == after["weights"].keys()
    for k, v in before["weights"].items():
        assert torch.equal(v, after["weights"][k]), k
    for g0, g1 in zip(before["grads"], after["grads"], strict=True):
        assert (g0 is None and g1 is None) or torch.equal(g0, g1)
    for s0, s1 in zip(before["opt_state"], after["opt_state"], strict=True):
        assert s0.keys() == s1.keys()
        for k in s0:
            same = torch.equal(s0[k], s1[k]) if torch.is_tensor(s0[k]) else s0[k] == s1[k]
            assert same, k
    for key in ("requires_grad", "modes", "hypers", "epoch"):
        assert before[key] == after[key], key
    assert torch.equal(before["torch_rng"], after["torch_rng"])
    n0, n1 = before["numpy_rng"], after["numpy_rng"]
    assert n0[0] == n1[0] and np.array_equal(n0[1], n1[1]) and n0[2:] == n1[2:]
    assert before["python_rng"] == after["python_rng"]
