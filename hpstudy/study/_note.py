"""The optuna-dashboard note each study carries: its design, in words, next to its trials."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from hpstudy.study._grid import variants
from hpstudy.study._records import set_study_attr, study_attrs
from hpstudy.study._spec import FACTORS, UNFROZEN_VARIANT, StudySpec
from hpstudy.study._study import lr_find_key

if TYPE_CHECKING:
    from hpstudy.study._study import StudyRef

__all__ = ["REPORT_NOTE_ATTR", "design_note", "save_design_note", "study_note"]

_ATTR_NOTE = "dashboard_note_sha"
#: The latest report's summary of a study (written by ``hpstudy report``), shown under its design.
REPORT_NOTE_ATTR = "report_note"


def design_note(ref: StudyRef) -> str:
    """A Markdown account of the study: baseline, factors, fractions, lr-finder values, values."""
    spec = ref.spec
    attrs = study_attrs(ref.study)
    lines = [
        f"# {ref.study.study_name}",
        "",
        spec.description or f"Study spec `{spec.name}` on dataset `{ref.dataset}`.",
        "",
        f"Baseline-plus-one-factor design: `{spec.arch}` (pretrained: {spec.pretrained}), batch "
        f"{spec.batch_size}, {spec.frozen_epochs} frozen + {spec.unfrozen_epochs} unfrozen epochs. "
        f"Each trial is one variant (the baseline, or the baseline with one factor changed) "
        f"trained on one fraction of the training split with one replicate's seed: "
        f"{len(variants(spec))} variants × {len(spec.fractions)} fractions × "
        f"{spec.replicates} replicate(s) = {len(ref.points)} grid points, each run once. "
        f"Replicate r trains with seed {spec.seed} + r and is paired with the baseline's "
        f"replicate r; every % change is reported with a 95 % bootstrap interval.",
        "",
        "| factor | baseline | other values |",
        "|---|---|---|",
    ]
    for factor in FACTORS:
        others = ", ".join(f"{v:g}" for v in spec.factors.get(factor, ())) or "—"
        lines.append(f"| `{factor}` | {spec.baseline[factor]:g} | {others} |")
    networks = ("frozen", "unfrozen") if spec.lr_find.runs_unfrozen else ("frozen",)
    lines += ["", "| training fraction | " + " | ".join(f"lr finder, {n} network" for n in networks)
              + " |", "|---" * (1 + len(networks)) + "|"]
    for fraction in sorted(spec.fractions):
        cells = []
        for network in networks:
            stored = attrs.get(lr_find_key(fraction, network))
            cells.append(f"{stored['lr']:.3g} ({stored.get('method', '?')})" if stored
                         else "not yet found")
        lines.append(f"| {fraction:g} | " + " | ".join(cells) + " |")
    lines += [
        "",
        _unfrozen_sentence(spec) +
        f"A trial's learning rate is the lr-finder value of its fraction × `lr_mult`. Its "
        f"intermediate values are the validation {attrs.get('metric', 'metric')} after each epoch "
        f"(step = epoch, frozen epochs first); its value is the metric after the last epoch. Trial "
        f"user attributes hold the grid point, the attempt, the resolved hyperparameters, the "
        f"seed, per-epoch losses, wall time, host, device and runtime (threads, versions); the "
        f"per-image validation outputs are the trial's artifact.",
    ]
    return "\n".join(lines) + "\n"


def _unfrozen_sentence(spec: StudySpec) -> str:
    if spec.lr_find.network == "unfrozen":
        return ("Every trial's unfrozen stage trains at the unfrozen finder's value × `lr_mult` "
                "(its frozen stage at the frozen finder's). ")
    if spec.lr_find.unfrozen_variant:
        return (f"The variant `{UNFROZEN_VARIANT}` is the baseline with its unfrozen stage at the "
                "unfrozen finder's value; the report compares it with the baseline. ")
    return ""


def study_note(ref: StudyRef) -> str:
    """The study's dashboard note: its design (:func:`design_note`), then the latest report's
    summary when ``hpstudy report`` has written one. Neither part ever replaces the other."""
    report = study_attrs(ref.study).get(REPORT_NOTE_ATTR)
    return design_note(ref) + (f"\n{report}\n" if report else "")


def save_design_note(ref: StudyRef) -> bool:
    """Save (or update) the study's dashboard note (:func:`study_note`) when optuna-dashboard is
    installed.

    Returns:
        Whether a note was written (``False`` when it is unchanged or the dashboard is missing).
    """
    try:
        from optuna_dashboard import save_note
    except ImportError:
        return False
    note = study_note(ref)
    sha = hashlib.sha256(note.encode()).hexdigest()[:16]
    if study_attrs(ref.study).get(_ATTR_NOTE) == sha:
        return False
    save_note(ref.study, note)
    set_study_attr(ref.study, _ATTR_NOTE, sha)
    return True
