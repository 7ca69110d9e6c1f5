"""As-of snapshots, horizon labels, temporal splits and lazily sliced daily sequences.

Time rule used throughout (the same as the feature engine's): an ``as_of`` date is the
*start* of that Monday (00:00 local time). Features use records dated strictly before
``as_of``. The label of a snapshot counts recorded crises whose ``occurred_on`` day lies in
``[as_of, as_of + horizon_days)``, i.e. in the instant interval ``(as_of 00:00,
as_of + horizon 00:00]`` written in the issue as ``(as_of, as_of + horizon]``: the 28 days
starting with the as-of Monday itself. Feature days and label days therefore never share a
day. A student is excluded at ``as_of`` when a recorded crisis (any level) occurred on a day in
``[as_of - exclude_recent_days, as_of)``: the counselling center already knows them. A student
has snapshots only while on the roster (:func:`on_roster`: from arrival to the end of the
nominal length of study). Splits are by time (embargoed by the horizon) and by student (a
held-out share of students is test-only, :func:`held_out_students`).
"""

from riskmodel.datasets.labels import (
    ROSTER_FIELDS,
    DatasetConfig,
    census_screen,
    crisis_labels,
    on_roster,
    snapshot_dates,
)
from riskmodel.datasets.sequences import SequenceBatchDataset, SequenceStore, build_sequence_store
from riskmodel.datasets.splits import (
    SplitConfig,
    TemporalSplit,
    assert_no_label_overlap,
    assert_no_student_overlap,
    held_out_students,
    leave_one_year_out,
    temporal_split,
)

__all__ = [
    "ROSTER_FIELDS",
    "DatasetConfig",
    "SequenceBatchDataset",
    "SequenceStore",
    "SplitConfig",
    "TemporalSplit",
    "assert_no_label_overlap",
    "assert_no_student_overlap",
    "build_sequence_store",
    "census_screen",
    "crisis_labels",
    "held_out_students",
    "leave_one_year_out",
    "on_roster",
    "snapshot_dates",
    "temporal_split",
]
