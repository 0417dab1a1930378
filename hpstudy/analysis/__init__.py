"""What the studies say together: the heatmap, lr curves, groups, recommendations and the report."""

from hpstudy.analysis._advise import PUBLISHED, Advice, Recommendation, advise, recommend
from hpstudy.analysis._collect import StudyResult, collect
from hpstudy.analysis._curves import CurvePoint, lr_curves
from hpstudy.analysis._findings import FINDINGS, Finding, PublishedFinding, judge_findings
from hpstudy.analysis._groups import (
    NO_PROXIMITY,
    Grouping,
    group_label,
    group_studies,
    proximity_group,
)
from hpstudy.analysis._heatmap import Heatmap, heatmap
from hpstudy.analysis._recommend import ALL, FactorChoice, recommendation_table
from hpstudy.analysis._report import REPORT_NOTE_ATTR, Report, build_report
from hpstudy.analysis._unfrozen import FinderComparison, compare_finders

__all__ = [
    "ALL",
    "FINDINGS",
    "NO_PROXIMITY",
    "PUBLISHED",
    "REPORT_NOTE_ATTR",
    "Advice",
    "CurvePoint",
    "FactorChoice",
    "FinderComparison",
    "Finding",
    "Grouping",
    "Heatmap",
    "PublishedFinding",
    "Recommendation",
    "Report",
    "StudyResult",
    "advise",
    "build_report",
    "collect",
    "compare_finders",
    "group_label",
    "group_studies",
    "heatmap",
    "judge_findings",
    "lr_curves",
    "proximity_group",
    "recommend",
    "recommendation_table",
]
