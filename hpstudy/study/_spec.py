"""Study specs: TOML files that fix the model, the training budget, the baseline and the factors."""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpstudy.cache._resize import RESIZE_METHODS
from hpstudy.errors import SpecError, UnknownStudyError
from hpstudy.training._lr_settings import LR_FIND_NETWORKS, LrFindSettings, lr_find_problems

__all__ = [
    "FACTORS",
    "LR_FIND_NETWORKS",
    "UNFROZEN_VARIANT",
    "StudySpec",
    "LrFindSettings",
    "load_spec",
    "parse_spec",
    "packaged_specs",
]

#: The five hyperparameters of the study, in the order tables show them.
FACTORS: tuple[str, ...] = ("lr_mult", "divisor", "wd", "beta2", "ps")

_FACTOR_RANGES: dict[str, tuple[float, float, str]] = {
    # name: (low, high, description); bounds inclusive unless noted in the check below
    "lr_mult": (0.0, math.inf, "> 0"),
    "divisor": (1.0, math.inf, ">= 1"),
    "wd": (0.0, math.inf, ">= 0"),
    "beta2": (0.0, 1.0, "in (0, 1)"),
    "ps": (0.0, 1.0, "in [0, 1)"),
}

#: ``[augment] policy`` values and ``[augment] hints`` entries; the same as
#: ``hpstudy.training._augment.POLICIES`` and ``HINTS`` (kept here so reading a spec needs no torch).
AUGMENT_POLICIES: tuple[str, ...] = ("fastai", "crop", "clamped-crop")
AUGMENT_HINTS: tuple[str, ...] = ("no_hflip", "rot90", "vflip")
#: The variant ``[lr_find] unfrozen_variant = true`` adds: the baseline, its unfrozen stage at the
#: unfrozen finder's lr.
UNFROZEN_VARIANT = "lr_find=unfrozen"


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec. Build it with :func:`load_spec` or :func:`parse_spec`."""

    name: str
    arch: str
    pretrained: bool
    batch_size: int
    frozen_epochs: int
    unfrozen_epochs: int
    fractions: tuple[float, ...]
    baseline: Mapping[str, float]
    factors: Mapping[str, tuple[float, ...]]
    image_size: int | None = None
    seed: int = 0
    lr_find: LrFindSettings = field(default_factory=LrFindSettings)
    description: str = ""
    replicates: int = 1
    threads: int | None = None
    ps_last: float | None = None
    augment_policy: str = "fastai"
    augment_hints: tuple[str, ...] | None = None
    resize: str = "crop"
    drop_last: bool = True

    @property
    def head_ps(self) -> tuple[str, float | None]:
        """How ``ps`` reads: ``("fastai", None)`` for one number (fastai puts ``ps/2`` before the
        head's first layer and ``ps`` before the last), ``("pair", p2)`` for the 2019 study's pair
        ``ps = [p1, p2]``, where the factor ``ps`` is ``p1`` and ``p2`` stays fixed."""
        return ("fastai", None) if self.ps_last is None else ("pair", self.ps_last)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        d["baseline"] = dict(self.baseline)
        d["factors"] = {k: list(v) for k, v in self.factors.items()}
        d["augment_hints"] = None if self.augment_hints is None else list(self.augment_hints)
        return d

    @property
    def hash(self) -> str:
        """SHA-256 of the design: everything but the name, the description, the number of
        replicates (raising it adds grid points to the same study) and the CPU threads (a host
        setting, recorded on every trial). Fields added later are left out at the value studies
        stored before them had (:data:`_ADDED_LATER`), so those studies keep their hash."""
        d = self.to_dict()
        for key in _NOT_HASHED:
            d.pop(key)
        for key, before in _ADDED_LATER.items():
            if d[key] == before:
                d.pop(key)
        for key, before in _LR_FIND_ADDED_LATER.items():  # a spec without them keeps its hash
            if d["lr_find"][key] == before:
                d["lr_find"].pop(key)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudySpec:
        """Rebuild a spec stored by :meth:`to_dict`. A field a stored spec lacks takes the value
        its study was trained with (:data:`_ADDED_LATER`), not today's default: one without
        ``augment_policy`` was trained with ``"clamped-crop"``, one without ``resize`` on squished
        images, one without ``drop_last`` on every training image each epoch."""
        d = {**_ADDED_LATER, **d}
        d["fractions"] = tuple(d["fractions"])
        if d.get("augment_hints") is not None:
            d["augment_hints"] = tuple(d["augment_hints"])
        d["factors"] = {k: tuple(v) for k, v in d["factors"].items()}
        d["lr_find"] = LrFindSettings(**d.get("lr_find", {}))
        return cls(**d)


#: Spec fields that do not identify a study (see :attr:`StudySpec.hash`).
_NOT_HASHED = ("name", "description", "replicates", "threads")
#: Spec fields added after studies were stored, with the value those studies were trained with:
#: left out of the hash at that value, and filled in when a stored spec lacks them.
#: The same for ``[lr_find]`` keys.
_LR_FIND_ADDED_LATER: dict[str, Any] = {"lr": None, "network": "frozen", "unfrozen_variant": False}
_ADDED_LATER: dict[str, Any] = {
    "ps_last": None,
    "augment_hints": None,
    "augment_policy": "clamped-crop",
    "resize": "squish",
    "drop_last": False,
}

_TOP: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # key: (type, required)
    "name": (str, False),
    "description": (str, False),
    "arch": (str, True),
    "pretrained": (bool, True),
    "batch_size": (int, True),
    "image_size": (int, False),
    "frozen_epochs": (int, True),
    "unfrozen_epochs": (int, True),
    "fractions": (list, True),
    "seed": (int, False),
    "replicates": (int, False),
    "threads": (int, False),
    "baseline": (dict, True),
    "factors": (dict, True),
    "lr_find": (dict, False),
    "augment": (dict, False),
    "resize": (str, False),
    "drop_last": (bool, False),
}


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", str: "a string", list: "a list",
             dict: "a table", float: "a number"}
    if isinstance(t, tuple):
        return " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, t.__name__)


def _is(value: Any, t: type | tuple[type, ...]) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not a number
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def parse_spec(data: Mapping[str, Any], *, name: str, source: str = "<spec>") -> StudySpec:
    """Validate a spec dict (as read from TOML) and build a :class:`StudySpec`.

    Every problem is collected; the :class:`SpecError` lists them all in one line, prefixed with
    ``source``.

    Raises:
        SpecError: On an unknown key, a wrong type, a missing key, an empty or invalid factor list.
    """
    problems: list[str] = []
    for key in data:
        if key not in _TOP:
            problems.append(f"unknown key {key!r} (known: {', '.join(_TOP)})")
    for key, (t, required) in _TOP.items():
        if key not in data:
            if required:
                problems.append(f"missing key {key!r}")
        elif not _is(data[key], t):
            problems.append(f"{key} must be {_type_name(t)}, got {data[key]!r}")
    if problems:
        raise SpecError(f"{source}: " + "; ".join(problems))

    for key in ("batch_size", "image_size", "replicates", "threads"):
        if key in data and data[key] <= 0:
            problems.append(f"{key} must be > 0, got {data[key]}")
    for key in ("frozen_epochs", "unfrozen_epochs"):
        if data[key] < 0:
            problems.append(f"{key} must be >= 0, got {data[key]}")
    if data["frozen_epochs"] + data["unfrozen_epochs"] == 0:
        problems.append("frozen_epochs + unfrozen_epochs must be at least 1")

    fractions = data["fractions"]
    if not fractions:
        problems.append("fractions must not be empty, e.g. fractions = [0.2, 1.0]")
    for f in fractions:
        if not _is(f, float) or not 0 < f <= 1:
            problems.append(f"fractions: {f!r} must be a number in (0, 1]")
    if len(set(fractions)) != len(fractions):
        problems.append("fractions must not repeat a value")

    baseline = dict(data["baseline"])
    ps_last = None
    if isinstance(baseline.get("ps"), list):  # the 2019 pair [p1, p2]: the factor varies p1
        pair = baseline["ps"]
        if len(pair) != 2 or not all(_is(p, float) for p in pair):
            problems.append(f"baseline.ps must be a number or a pair [first, last], got {pair!r}")
            baseline["ps"] = 0.5
        else:
            baseline["ps"], ps_last = pair
            problems.extend(_range_problems("baseline.ps[1]", "ps", ps_last))
    for key in baseline:
        if key not in FACTORS:
            problems.append(f"baseline: unknown factor {key!r} (known: {', '.join(FACTORS)})")
    for key in FACTORS:
        if key not in baseline:
            problems.append(f"baseline: missing factor {key!r}")
        elif not _is(baseline[key], float):
            problems.append(f"baseline.{key} must be a number, got {baseline[key]!r}")
        else:
            problems.extend(_range_problems(f"baseline.{key}", key, baseline[key]))

    factors = data["factors"]
    for key, values in factors.items():
        if key not in FACTORS:
            problems.append(f"factors: unknown factor {key!r} (known: {', '.join(FACTORS)})")
            continue
        if not isinstance(values, list):
            problems.append(f"factors.{key} must be a list of numbers, got {values!r}")
            continue
        if not values:
            problems.append(f"factors.{key} must not be empty; remove the key to keep it fixed")
            continue
        for v in values:
            if not _is(v, float):
                problems.append(f"factors.{key}: {v!r} is not a number")
            else:
                problems.extend(_range_problems(f"factors.{key}", key, v))
                if key in baseline and _is(baseline[key], float) and v == baseline[key]:
                    problems.append(
                        f"factors.{key}: {v} is the baseline value; list only the other values"
                    )
        if len(set(values)) != len(values):
            problems.append(f"factors.{key} must not repeat a value")
        problems.extend(_name_collisions(key, values, baseline.get(key)))

    lr_find = data.get("lr_find", {})
    problems.extend(lr_find_problems(lr_find, data["unfrozen_epochs"]))
    policy, hints = _augment(data.get("augment", {}), problems)
    resize = data.get("resize", "crop")
    if resize not in RESIZE_METHODS:
        allowed = ", ".join(f'"{m}"' for m in RESIZE_METHODS)
        problems.append(f"resize must be one of {allowed}, got {resize!r}")
    if problems:
        raise SpecError(f"{source}: " + "; ".join(problems))
    settings = LrFindSettings(**lr_find)

    return StudySpec(
        name=data.get("name", name),
        description=data.get("description", ""),
        arch=data["arch"],
        pretrained=data["pretrained"],
        batch_size=data["batch_size"],
        image_size=data.get("image_size"),
        frozen_epochs=data["frozen_epochs"],
        unfrozen_epochs=data["unfrozen_epochs"],
        fractions=tuple(float(f) for f in fractions),
        seed=data.get("seed", 0),
        replicates=data.get("replicates", 1),
        threads=data.get("threads"),
        baseline={k: float(baseline[k]) for k in FACTORS},
        factors={k: tuple(float(v) for v in factors[k]) for k in FACTORS if k in factors},
        lr_find=settings,
        ps_last=None if ps_last is None else float(ps_last),
        augment_policy=policy,
        augment_hints=hints,
        resize=resize,
        drop_last=data.get("drop_last", True),
    )


def _augment(table: Mapping[str, Any], problems: list[str]) -> tuple[str, tuple[str, ...] | None]:
    """The ``[augment]`` table's policy and hints (``None``: the plugin's); problems appended."""
    policy, hints = "fastai", None
    allowed_policies = ", ".join(f'"{p}"' for p in AUGMENT_POLICIES)
    allowed_hints = ", ".join(f'"{h}"' for h in AUGMENT_HINTS)
    for key, value in table.items():
        if key == "policy":
            if value in AUGMENT_POLICIES:
                policy = value
            else:
                problems.append(f"augment.policy must be one of {allowed_policies}, got {value!r}")
        elif key == "hints":
            bad = (not isinstance(value, list)
                   or any(not isinstance(h, str) or h not in AUGMENT_HINTS for h in value))
            if bad:
                problems.append(f"augment.hints must be a list of {allowed_hints} (or [] for none), "
                                f"got {value!r}")
            elif len(set(value)) != len(value):
                problems.append(f"augment.hints must not repeat a hint, got {value!r}")
            else:
                hints = tuple(sorted(value))
        else:
            problems.append(f"augment: unknown key {key!r} (known: policy, hints)")
    return policy, hints


def variant_name(factor: str, value: float) -> str:
    """The name of the variant that sets ``factor`` to ``value``, e.g. ``"wd=0.01"``: three
    significant digits, so values that differ only further down get the same name."""
    return f"{factor}={value:.3g}"


def _name_collisions(factor: str, values: list[Any], baseline: Any) -> list[str]:
    """Factor values whose variant names collide with each other's or print like the baseline's
    value (values repeated exactly, and the baseline value itself, are reported elsewhere)."""
    numbers = [v for v in dict.fromkeys(values) if _is(v, float) and math.isfinite(v)]
    by_name: dict[str, list[Any]] = {}
    for v in numbers:
        by_name.setdefault(variant_name(factor, v), []).append(v)
    problems = []
    for label, same in by_name.items():
        if len(same) > 1:
            listed = ", ".join(str(v) for v in same[:-1]) + f" and {same[-1]}"
            problems.append(f"factors.{factor}: {listed} {'both' if len(same) == 2 else 'all'} "
                            f"print as {label!r} (variant names keep 3 significant digits); make "
                            "the values differ in their first 3 significant digits")
    if _is(baseline, float) and math.isfinite(baseline):
        label = variant_name(factor, baseline)
        for v in by_name.get(label, ()):
            if v != baseline:
                problems.append(f"factors.{factor}: {v} prints as {label!r}, like the baseline "
                                f"value {baseline}; make it differ from the baseline in its first "
                                "3 significant digits")
    return problems


def _range_problems(where: str, factor: str, value: float) -> list[str]:
    if not math.isfinite(value):
        return [f"{where} = {value} must be a finite number"]
    low, high, text = _FACTOR_RANGES[factor]
    ok = {
        "lr_mult": value > low,
        "divisor": value >= low,
        "wd": value >= low,
        "beta2": low < value < high,
        "ps": low <= value < high,
    }[factor]
    return [] if ok else [f"{where} = {value} must be {text}"]


def _packaged_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "studies"


def packaged_specs() -> list[str]:
    """Names of the specs that ship with hpstudy."""
    d = _packaged_dir()
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def load_spec(name_or_path: str | Path) -> StudySpec:
    """Load a packaged spec by name (``smoke``) or any spec file by path.

    Raises:
        UnknownStudyError: If it is neither.
        SpecError: If the file is not valid TOML or not a valid spec.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if not path.is_file():
        packaged = _packaged_dir() / f"{text}.toml"
        if packaged.is_file() and "/" not in text:
            path = packaged
        else:
            known = ", ".join(packaged_specs()) or "none"
            raise UnknownStudyError(
                f"unknown study {text!r}: no such file and no packaged spec of that name; "
                f"packaged specs: {known}"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec ({exc})") from None
    return parse_spec(data, name=path.stem, source=str(path))
