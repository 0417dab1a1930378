"""Dataset groups two ways, by proximity threshold and by clustering results, and their agreement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpstudy.analysis._collect import StudyResult
from hpstudy.study import BASELINE

__all__ = ["Grouping", "NO_PROXIMITY", "group_label", "group_studies", "proximity_group"]

#: The group of a study whose dataset has no stored proximity.
NO_PROXIMITY = "no proximity"


def group_label(group: str, threshold: float) -> str:
    """A group's name for people: ``near ImageNet (> 0.72)``, ``far from ImageNet (<= 0.72)``,
    ``proximity not measured``."""
    return {"near": f"near ImageNet (> {threshold:g})",
            "far": f"far from ImageNet (<= {threshold:g})",
            NO_PROXIMITY: "proximity not measured", "all": "all datasets"}.get(group, group)


def proximity_group(r: StudyResult, threshold: float) -> str:
    """``near`` / ``far`` from the stored proximity at ``threshold``, or :data:`NO_PROXIMITY`."""
    from hpstudy.proximity import group_of

    if not r.proximity or r.proximity.get("value") is None:
        return NO_PROXIMITY
    return group_of(float(r.proximity["value"]), threshold)


@dataclass(frozen=True)
class Grouping:
    """Both groupings of the studies and how well they agree.

    ``clusters`` maps each clustered study to its cluster (1..k); studies with a missing result in
    any shared column are left out (``excluded``). ``ari`` (adjusted Rand index, 1 = identical
    partitions, about 0 = chance) and ``pair_agreement`` (share of study pairs both groupings put
    together or apart) compare the clusters with the proximity groups over the studies that have
    both; they are ``None`` when fewer than two such studies exist. ``note`` says why, when so.
    """

    by_proximity: dict[str, str]
    clusters: dict[str, int]
    columns: tuple[str, ...]
    excluded: tuple[str, ...]
    ari: float | None
    pair_agreement: float | None
    note: str


def _vectors(results: list[StudyResult]) -> tuple[list[str], list[str], np.ndarray]:
    keys = sorted({k for r in results for k in r.changes if k[0] != BASELINE},
                  key=lambda k: (k[1], k[0]))
    # Keep the columns most studies have, then the studies that have all of them.
    counts = {k: sum(k in r.changes for r in results) for k in keys}
    best = max(counts.values(), default=0)
    cols = [k for k in keys if counts[k] == best]
    names = [r.name for r in results if cols and all(k in r.changes for k in cols)]
    by_name = {r.name: r for r in results}
    mat = np.array([[by_name[n].changes[k] for k in cols] for n in names], dtype=float)
    return names, [f"{v}@{f:g}" for v, f in cols], mat.reshape(len(names), len(cols))


def group_studies(results: list[StudyResult], threshold: float) -> Grouping:
    """Group by proximity (near/far at ``threshold``) and by average-linkage hierarchical clustering
    of the improvement vectors (Euclidean), cut into as many clusters as there are proximity groups
    among the clustered studies (at least two)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import adjusted_rand_score, rand_score

    by_prox = {r.name: proximity_group(r, threshold) for r in results}
    names, cols, mat = _vectors(results)
    excluded = tuple(r.name for r in results if r.name not in names)
    clusters: dict[str, int] = {}
    note = ""
    if len(names) < 2:
        note = "fewer than two studies have every result; nothing to cluster"
    else:
        known = {by_prox[n] for n in names if by_prox[n] != NO_PROXIMITY}
        k = min(len(names), max(2, len(known)))
        z = linkage(mat, method="average", metric="euclidean")
        clusters = dict(zip(names, (int(c) for c in fcluster(z, t=k, criterion="maxclust")),
                            strict=True))
    both = [n for n in clusters if by_prox[n] != NO_PROXIMITY]
    ari = pair = None
    if clusters and len(both) >= 2:
        a = [by_prox[n] for n in both]
        b = [clusters[n] for n in both]
        ari = float(adjusted_rand_score(a, b))
        pair = float(rand_score(a, b))
    elif clusters:
        note = "fewer than two clustered studies have a proximity; agreement not computed"
    return Grouping(by_prox, clusters, tuple(cols), excluded, ari, pair, note)
