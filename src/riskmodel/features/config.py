"""Feature-engine configuration: one plain, frozen dataclass (no Hydra in the library)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_WINDOWS: tuple[int, ...] = (7, 14, 28, 84)


@dataclass(frozen=True)
class FeatureConfig:
    """How the daily table and the window features are built.

    Parameters
    ----------
    engine : "duckdb" (in-process, default) or "spark" (ibis' PySpark backend, local mode
        unless ``spark_master`` says otherwise).
    windows : window lengths in days for the window features (each window ends the day
        before the as-of date).
    observed_lookback_days : a student's source counts as *observed* on day d when the
        student has at least one event in that source in the ``observed_lookback_days``
        days ending on d; channels of an unobserved source are NaN, never 0.
    coswipe_seconds : two canteen swipes of roommates or classmates at the same merchant
        on the same day within this many seconds are a shared meal.
    change_recent_days, change_baseline_days, change_block_days, change_min_blocks :
        robust change z-scores compare the mean of the last ``change_recent_days`` with
        the median / MAD of the weekly means of the ``change_baseline_days`` before them;
        at least ``change_min_blocks`` observed blocks are needed.
    credits_per_term : the study plan, in credits per graded term ("credits behind plan").
    period_start, period_end : first and last day of the daily table (inclusive); taken
        from the calendar table, else from the event data, when not given.
    chunk_students : campuses with more students are built in chunks of this many students
        (each chunk's daily table is built, used and dropped before the next), which
        bounds memory; None builds everyone at once.
    chunk_student_days : and a chunk holds at most this many student-days, so a longer
        period gets smaller chunks (8,000 students over a year; about 4,100 over two
        years): a chunk's memory grows with its students times its days. None: no bound.
    finish_rows : :func:`build_feature_store` adds the whole-campus features (peers, academic,
        census, calendar) in passes of about this many student x as-of rows (as-of dates are
        independent there), so a two-year weekly build never joins all its rows at once (one
        pass for 30,000 students x 52 weeks; each pass costs a few seconds).
    numpy_kernels : on DuckDB, run the heaviest steps as numpy kernels on in-memory grids:
        the daily table's students x days spine (:mod:`riskmodel.features.daily_grid`:
        observed flags, carried door state, card, door and network day aggregates, activity
        channels, shared meals) and the window features on the students x segments grid of
        running sums (:mod:`riskmodel.features.windows_grid`), instead of ibis joins, windows
        and group-bys; same values (sums up to their last bits). False forces the ibis
        version, the one Spark runs.
    threads, memory_limit, temp_directory : DuckDB resources (None: DuckDB's defaults, except
        memory_limit: half of the machine's memory, see ``backends.default_memory_limit``).
    spark_master : Spark master URL for ``engine="spark"``.
    """

    engine: str = "duckdb"
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    observed_lookback_days: int = 28
    coswipe_seconds: int = 180
    change_recent_days: int = 14
    change_baseline_days: int = 84
    change_block_days: int = 7
    change_min_blocks: int = 4
    credits_per_term: float = 20.0
    period_start: str | None = None
    period_end: str | None = None
    chunk_students: int | None = 8000
    chunk_student_days: int | None = 3_000_000
    finish_rows: int = 2_000_000
    numpy_kernels: bool = True
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str | None = None
    spark_master: str = "local[2]"
    spark_conf: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.engine not in ("duckdb", "spark"):
            raise ValueError(f"FeatureConfig.engine must be 'duckdb' or 'spark', got {self.engine!r}")
        if not self.windows or any(int(w) < 1 for w in self.windows):
            raise ValueError(f"FeatureConfig.windows must be positive day counts, got {self.windows!r}")
        if self.change_baseline_days % self.change_block_days:
            raise ValueError("change_baseline_days must be a multiple of change_block_days")
        if self.finish_rows < 1:
            raise ValueError(f"FeatureConfig.finish_rows must be positive, got {self.finish_rows}")
        if self.chunk_students is not None and self.chunk_students < 1:
            raise ValueError(f"FeatureConfig.chunk_students must be >= 1 or None, got {self.chunk_students!r}")
        if self.chunk_student_days is not None and self.chunk_student_days < 1:
            raise ValueError("FeatureConfig.chunk_student_days must be >= 1 or None, "
                             f"got {self.chunk_student_days!r}")
        if self.observed_lookback_days < 1:
            raise ValueError("observed_lookback_days must be >= 1")

    def chunk_size(self, n_days: int) -> int | None:
        """Students per chunk for a daily table of ``n_days`` days (None: one chunk)."""
        bounds = [b for b in (self.chunk_students,
                              None if self.chunk_student_days is None else max(1, self.chunk_student_days // max(n_days, 1)))
                  if b is not None]
        return min(bounds) if bounds else None

    @property
    def change_blocks(self) -> int:
        """Number of baseline blocks of a change z-score (12 weeks by default)."""
        return self.change_baseline_days // self.change_block_days
