"""The feature registry: every daily channel and every feature declared once, as data.

The registry drives computation (:mod:`riskmodel.features.windows` reads ``aggregate``,
``channel`` and ``inputs``), the generated reference ``docs/features.md``, the model
signature and the reason texts shown to counselors.

Names follow ``source__aggregate__window``: ``door__away_night_sum__14d`` is the number of
nights away from the dormitory in the 14 days before the as-of date. Daily channels are
named ``<source prefix>_<quantity>`` (``door_away_night``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from riskmodel.features.config import DEFAULT_WINDOWS

REGISTRY_VERSION = "1.1"

FAMILIES = ("sleep_routine", "diet", "social", "study", "finance", "census", "academic", "context")
CONCERNING = ("higher", "lower", "either", "none")

# event sources feeding the daily table, with the prefix used in channel and feature names
EVENT_SOURCES: dict[str, str] = {
    "door_events": "door",
    "card_transactions": "card",
    "library_events": "library",
    "network_sessions": "network",
}
ANY_SOURCE = "any"  # channels computed from whichever event sources are present
PREFIX_SOURCE = {v: k for k, v in EVENT_SOURCES.items()} | {"activity": ANY_SOURCE}


@dataclass(frozen=True)
class ChannelSpec:
    """One column of the daily behaviour table (float64; NaN where the source is unobserved).

    ``timing`` is ``"day"`` (events of calendar day d, 00:00 to 24:00) or ``"night"`` (the
    night that *ends* on the morning of d: events from 12:00 on d-1 to 12:00 on d). Both end
    no later than d+1 00:00, so a daily row d is usable at as-of t exactly when d < t.
    """

    name: str
    source: str
    family: str
    unit: str
    description_zh: str
    description_en: str
    timing: str = "day"
    label_zh: str = ""
    label_en: str = ""
    concerning: str = "either"
    scale_floor: float = 1.0
    helper: bool = False  # bin counts used by entropy features

    @property
    def prefix(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def short(self) -> str:
        return self.name.split("_", 1)[1]


@dataclass(frozen=True)
class FeatureSpec:
    """One feature per student and as-of date, declared once.

    ``aggregate`` says how it is computed: ``mean``, ``std``, ``sum``, ``trend`` (slope, per
    week), ``entropy`` (over bin channels in ``inputs``), ``share_alone``, ``observed_days``,
    ``change_z`` (robust z of the recent window against the weekly baseline), ``vs_class`` /
    ``vs_room`` (peer deviation of the feature named in ``inputs``), or a record aggregate
    (``academic_*``, ``census_*``, ``context_*``).
    """

    name: str
    family: str
    source: str
    window_days: int | None
    unit: str
    concerning: str
    description_zh: str
    description_en: str
    reason_zh: str
    reason_en: str
    aggregate: str = "mean"
    channel: str | None = None
    inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"feature {self.name}: family {self.family!r} not in {FAMILIES}")
        if self.concerning not in CONCERNING:
            raise ValueError(f"feature {self.name}: concerning {self.concerning!r} not in {CONCERNING}")
        if self.name.count("__") != 2:
            raise ValueError(f"feature name {self.name!r} is not source__aggregate__window")


# ------------------------------------------------------------------------------ channels

_RETURN_BINS = ((-360, 0), (0, 120), (120, 240), (240, 300), (300, 360), (360, 420), (420, 540), (540, 720))
"""Return-time bins, minutes after 18:00: before 18, 18-20, 20-22, 22-23, 23-24, 0-1, 1-3, 3-6 h."""
_MEAL_BIN_HOURS = (0, 7, 8, 9, 11, 12, 13, 17, 18, 19, 24)
"""Canteen swipe hour bins for meal-time entropy."""
MEAL_SLOTS = {"breakfast": (5, 10), "lunch": (10, 15), "dinner": (15, 21)}
"""Meal slots by swipe hour [from, to) for canteen transactions."""


def _ch(name: str, source: str, family: str, unit: str, label_zh: str, label_en: str,
        zh: str, en: str, *, timing: str = "day", concerning: str = "either",
        floor: float = 1.0, helper: bool = False) -> ChannelSpec:
    return ChannelSpec(name=name, source=source, family=family, unit=unit, description_zh=zh,
                       description_en=en, timing=timing, label_zh=label_zh, label_en=label_en,
                       concerning=concerning, scale_floor=floor, helper=helper)


_D, _C, _L, _N, _A = "door_events", "card_transactions", "library_events", "network_sessions", ANY_SOURCE

_BASE_CHANNELS: tuple[ChannelSpec, ...] = (
    _ch("door_return_min", _D, "sleep_routine", "min after 18:00", "最后归寝时间", "last return time",
        "夜间最后归寝时间：前一日12:00至当日06:00之间最后一条门禁记录若为进楼，取其时间（前一日18:00起算的分钟数，负数为18:00前）；"
        "若最后一条为出楼或无记录则为空",
        "Last return: when the last door event between 12:00 the day before and 06:00 is an entry, its time "
        "in minutes after 18:00 of the evening before (negative: before 18:00); empty when it is an exit or "
        "there is none", timing="night", concerning="higher", floor=20.0),
    _ch("door_away_night", _D, "sleep_routine", "0/1", "未归寝", "night away",
        "当日04:00时是否在宿舍楼外（当晚最后一次刷门禁为出门；当晚无记录时沿用此前最后一次门禁方向）",
        "Whether the student was outside the dormitory at 04:00 (last door event before 04:00 was an exit; "
        "with no event that night, the direction of the last earlier event)", timing="night",
        concerning="higher", floor=0.05),
    _ch("door_first_out_min", _D, "sleep_routine", "min after 00:00", "首次出门时间", "first exit time",
        "当日04:00后第一次出宿舍楼的时间（零点起的分钟数）",
        "First exit from the dormitory building after 04:00, minutes after midnight", concerning="higher",
        floor=20.0),
    _ch("door_in_count", _D, "sleep_routine", "events/day", "进楼次数", "entries",
        "当日进宿舍楼刷卡次数", "Dormitory entries per day"),
    _ch("door_out_count", _D, "sleep_routine", "events/day", "出楼次数", "exits",
        "当日出宿舍楼刷卡次数", "Dormitory exits per day", concerning="lower"),
    _ch("card_breakfast", _C, "diet", "0/1", "吃早餐", "breakfast",
        "当日05:00-10:00是否在食堂消费（吃早餐）", "Whether a canteen purchase was made 05:00-10:00 (breakfast)",
        concerning="lower", floor=0.05),
    _ch("card_lunch", _C, "diet", "0/1", "吃午餐", "lunch",
        "当日10:00-15:00是否在食堂消费（吃午餐）", "Whether a canteen purchase was made 10:00-15:00 (lunch)",
        concerning="lower", floor=0.05),
    _ch("card_dinner", _C, "diet", "0/1", "吃晚餐", "dinner",
        "当日15:00-21:00是否在食堂消费（吃晚餐）", "Whether a canteen purchase was made 15:00-21:00 (dinner)",
        concerning="lower", floor=0.05),
    _ch("card_meals", _C, "diet", "meals/day", "每日食堂餐次", "canteen meals per day",
        "当日在食堂就餐的餐次（早、午、晚，0-3）", "Canteen meals taken that day (breakfast, lunch, dinner: 0-3)",
        concerning="lower", floor=0.1),
    _ch("card_canteen_spend", _C, "finance", "CNY/day", "食堂消费额", "canteen spend",
        "当日食堂消费总额（元）", "Canteen spending that day (CNY)", concerning="lower", floor=2.0),
    _ch("card_meal_price", _C, "finance", "CNY/meal", "平均每餐价格", "mean meal price",
        "当日食堂消费额除以餐次（无就餐为空）", "Canteen spend divided by meals taken (empty without meals)",
        concerning="lower", floor=1.0),
    _ch("card_supermarket_spend", _C, "finance", "CNY/day", "超市消费额", "supermarket spend",
        "当日超市消费总额（元）", "Supermarket spending that day (CNY)", floor=2.0),
    _ch("card_bathhouse_spend", _C, "finance", "CNY/day", "浴室消费额", "bathhouse spend",
        "当日浴室消费总额（元）", "Bathhouse spending that day (CNY)", concerning="lower", floor=1.0),
    _ch("card_total_spend", _C, "finance", "CNY/day", "一卡通消费总额", "total card spend",
        "当日一卡通消费总额（元）", "Total campus-card spending that day (CNY)", concerning="lower", floor=3.0),
    _ch("card_merchants", _C, "finance", "merchants/day", "消费商户数", "distinct merchants",
        "当日消费过的不同商户数", "Distinct merchants used that day", concerning="lower", floor=0.2),
    _ch("card_meals_accompanied", _C, "social", "meals/day", "与室友或同班同学同餐的餐次",
        "meals shared with a roommate or classmate",
        "当日餐次中，同一食堂窗口在几分钟内有室友或同班同学刷卡（视为结伴就餐）的餐次",
        "Meals with a co-swipe by a roommate or classmate at the same canteen merchant within a few minutes",
        concerning="lower", floor=0.1),
    _ch("library_entries", _L, "study", "entries/day", "图书馆入馆次数", "library entries",
        "当日进入图书馆的次数", "Library entries that day", concerning="lower", floor=0.1),
    _ch("library_minutes", _L, "study", "min/day", "图书馆停留时间（估计）", "library time (estimated)",
        "当日图书馆停留分钟数估计：每次入馆到当日下一条任意记录的时间，每次最多240分钟",
        "Estimated minutes in the library: from each entry to the next event of any source the same day, "
        "at most 240 minutes per entry", concerning="lower", floor=10.0),
    _ch("network_minutes", _N, "study", "min/day", "校园网在线时长", "campus-network minutes",
        "当日校园网在线分钟数（跨零点的会话按日切分，单次会话最多计24小时）",
        "Campus-network minutes that day (sessions split at midnight, a session counts at most 24 h)",
        floor=15.0),
    _ch("network_late_min", _N, "sleep_routine", "min/day", "深夜上网时长", "late-night network minutes",
        "当日00:00-05:00的校园网在线分钟数", "Campus-network minutes between 00:00 and 05:00",
        concerning="higher", floor=5.0),
    _ch("network_sessions", _N, "study", "sessions/day", "上网会话数", "network sessions",
        "当日开始的校园网会话数", "Campus-network sessions started that day"),
    _ch("activity_span_min", _A, "sleep_routine", "min/day", "日活动跨度", "activity span",
        "当日第一条到最后一条任意记录（门禁、一卡通、图书馆、上网开始/结束）之间的分钟数",
        "Minutes from the first to the last event of any source that day (door, card, library, "
        "network start/end)", floor=20.0),
    _ch("activity_quiet_min", _A, "sleep_routine", "min", "夜间最长静默时长（睡眠代理）",
        "longest overnight quiet gap (sleep proxy)",
        "前一日18:00至当日12:00之间结束的、相邻两条任意记录之间的最长间隔（分钟，起点截于18:00）",
        "Longest gap between consecutive events of any source ending between 18:00 the day before and "
        "12:00, its start clipped at 18:00 (minutes); a proxy for sleep", timing="night", floor=20.0),
)


def _bin_channels() -> tuple[ChannelSpec, ...]:
    out = []
    for k, (lo, hi) in enumerate(_RETURN_BINS):
        out.append(_ch(f"door_return_bin{k}", _D, "sleep_routine", "0/1", "归寝时间分箱", "return-time bin",
                       f"最后归寝时间落在18:00后第{lo}至{hi}分钟（熵特征用）",
                       f"Last return time in [{lo}, {hi}) minutes after 18:00 (for entropy)",
                       timing="night", helper=True))
    for k in range(len(_MEAL_BIN_HOURS) - 1):
        lo, hi = _MEAL_BIN_HOURS[k], _MEAL_BIN_HOURS[k + 1]
        out.append(_ch(f"card_meal_bin{k}", _C, "diet", "swipes/day", "食堂刷卡时段", "canteen swipe hour bin",
                       f"{lo}:00-{hi}:00的食堂刷卡次数（熵特征用）",
                       f"Canteen swipes between {lo}:00 and {hi}:00 (for entropy)", helper=True))
    return tuple(out)


DAILY_CHANNELS: tuple[ChannelSpec, ...] = _BASE_CHANNELS + _bin_channels()
CHANNELS_BY_NAME = {c.name: c for c in DAILY_CHANNELS}
RETURN_BINS = _RETURN_BINS
MEAL_BIN_HOURS = _MEAL_BIN_HOURS
#: the most a library entry adds to ``library_minutes`` (seconds), as its description says
LIBRARY_STAY_CAP_S = 4 * 3600

# which window aggregates each channel gets (trend only for windows >= 14 days)
WINDOW_AGGS: dict[str, tuple[str, ...]] = {
    "door_return_min": ("mean", "std", "trend"),
    "door_away_night": ("sum",),
    "door_first_out_min": ("mean", "std"),
    "door_in_count": ("mean",),
    "door_out_count": ("mean",),
    "card_breakfast": ("sum",),
    "card_lunch": ("sum",),
    "card_dinner": ("sum",),
    "card_meals": ("mean", "std", "trend"),
    "card_canteen_spend": ("mean",),
    "card_meal_price": ("mean", "trend"),
    "card_supermarket_spend": ("mean",),
    "card_bathhouse_spend": ("sum",),
    "card_total_spend": ("mean", "std", "trend"),
    "card_merchants": ("mean",),
    "library_entries": ("sum", "trend"),
    "library_minutes": ("mean",),
    "network_minutes": ("mean", "trend"),
    "network_late_min": ("mean", "std"),
    "network_sessions": ("mean",),
    "activity_span_min": ("mean", "std"),
    "activity_quiet_min": ("mean", "std", "trend"),
}
CHANGE_CHANNELS: tuple[str, ...] = (
    "door_return_min", "door_away_night", "card_meals", "card_total_spend", "card_meal_price",
    "library_entries", "network_late_min", "activity_quiet_min",
)
PEER_WINDOW = 14
PEER_BASES: tuple[str, ...] = (
    "door__return_min_mean__14d", "door__away_night_sum__14d", "card__meals_mean__14d",
    "card__meals_alone_share__14d", "card__total_spend_mean__14d", "library__entries_sum__14d",
    "network__late_min_mean__14d", "activity__quiet_min_mean__14d",
)
ENTROPY_FEATURES = {
    "door": ("return_time_entropy", tuple(f"door_return_bin{k}" for k in range(len(_RETURN_BINS))),
             "归寝时间熵", "return-time entropy"),
    "card": ("meal_time_entropy", tuple(f"card_meal_bin{k}" for k in range(len(_MEAL_BIN_HOURS) - 1)),
             "就餐时间熵", "meal-time entropy"),
}

_AGG_TEXT = {
    "mean": ("过去{w}天（至预测日前一天）有记录日的{l}平均值", "Mean {l} per observed day over the {w} days before the as-of date",
             "近{w}天{l}平均为{{value}}（本人此前通常为{{usual}}，同伴为{{peer}}）",
             "{L} averaged {{value}} over the last {w} days (usually {{usual}}; peers {{peer}})"),
    "std": ("过去{w}天{l}的标准差（越大越不规律）", "Standard deviation of {l} over the {w} days before the as-of date (higher: less regular)",
            "近{w}天{l}波动为{{value}}（本人此前通常为{{usual}}）",
            "{L} varied by {{value}} over the last {w} days (usually {{usual}})"),
    "sum": ("过去{w}天{l}的天数或合计（只计有记录的日子）", "Total {l} over the observed days among the {w} days before the as-of date",
            "近{w}天{l}合计{{value}}（本人此前通常为{{usual}}）",
            "{L}: {{value}} in the last {w} days (usually {{usual}})"),
    "trend": ("过去{w}天{l}的线性趋势（每周变化量）", "Linear trend of {l} over the {w} days before the as-of date (change per week)",
              "近{w}天{l}每周变化{{value}}（本人此前通常为{{usual}}）",
              "{L} changed by {{value}} per week over the last {w} days (usually {{usual}})"),
}
_REASON_OVERRIDES = {
    ("door_away_night", "sum"): ("近{w}天有{{value}}晚未归寝（本人此前通常为{{usual}}晚）",
                                 "Did not return to the dormitory on {{value}} of the last {w} nights (usually {{usual}})"),
    ("card_breakfast", "sum"): ("近{w}天只有{{value}}天吃早餐（本人此前通常为{{usual}}天）",
                                "Had breakfast on {{value}} of the last {w} days (usually {{usual}})"),
}
_TREND_UNIT = "{u} per week"


def duration_unit(unit: str) -> str:
    """The unit of a spread, slope or difference of a channel: a clock time ("min after
    18:00") becomes a duration ("min"); other units stay."""
    return "min" if unit.startswith("min after") else unit


def _trend_allowed(w: int) -> bool:
    return w >= 14


def _window_features(windows: Iterable[int]) -> list[FeatureSpec]:
    feats: list[FeatureSpec] = []
    for w in windows:
        for ch_name, aggs in WINDOW_AGGS.items():
            ch = CHANNELS_BY_NAME[ch_name]
            for agg in aggs:
                if agg == "trend" and not _trend_allowed(w):
                    continue
                zh, en, rzh, ren = _AGG_TEXT[agg]
                rzh, ren = _REASON_OVERRIDES.get((ch_name, agg), (rzh, ren))
                unit = _TREND_UNIT.format(u=duration_unit(ch.unit)) if agg == "trend" else (
                    "days" if (agg == "sum" and ch.unit == "0/1") else
                    duration_unit(ch.unit) if agg == "std" else ch.unit)
                # more variable is less regular: only a rise in variability is a concern
                concerning = "higher" if agg == "std" else ch.concerning
                fmt = {"w": w, "l": ch.label_zh}
                fmt_en = {"w": w, "l": ch.label_en, "L": ch.label_en[:1].upper() + ch.label_en[1:]}
                feats.append(FeatureSpec(
                    name=f"{ch.prefix}__{ch.short}_{agg}__{w}d", family=ch.family, source=ch.source,
                    window_days=w, unit=unit, concerning=concerning,
                    description_zh=zh.format(**fmt) + "。通道：" + ch.description_zh,
                    description_en=en.format(**fmt_en) + ". Channel: " + ch.description_en,
                    reason_zh=rzh.format(**fmt), reason_en=ren.format(**fmt_en),
                    aggregate=agg, channel=ch_name))
        for prefix, (stem, bins, lzh, len_) in ENTROPY_FEATURES.items():
            src = PREFIX_SOURCE[prefix]
            feats.append(FeatureSpec(
                name=f"{prefix}__{stem}__{w}d", family="sleep_routine" if prefix == "door" else "diet",
                source=src, window_days=w, unit="nats", concerning="higher",
                description_zh=f"过去{w}天{lzh}（时段分布的香农熵，越大越无规律，见校园卡“有序性”研究）",
                description_en=f"{len_[:1].upper() + len_[1:]} over the {w} days before the as-of date "
                               "(Shannon entropy of the time-bin distribution; higher is less orderly)",
                reason_zh=f"近{w}天{lzh}为{{value}}，作息不如以往规律（本人此前通常为{{usual}}）",
                reason_en=f"{len_[:1].upper() + len_[1:]} was {{value}} over the last {w} days, less regular "
                          "than usual ({usual})",
                aggregate="entropy", inputs=bins))
        feats.append(FeatureSpec(
            name=f"card__meals_alone_share__{w}d", family="social", source=_C, window_days=w,
            unit="share", concerning="higher",
            description_zh=f"过去{w}天食堂餐次中独自就餐（无室友或同班同学在几分钟内同窗口刷卡）的比例",
            description_en=f"Share of canteen meals over the {w} days before the as-of date eaten without a "
                           "co-swipe by a roommate or classmate at the same merchant within minutes",
            reason_zh=f"近{w}天独自就餐比例为{{value}}（本人此前通常为{{usual}}，同伴为{{peer}}）",
            reason_en=f"Ate alone at {{value}} of canteen meals over the last {w} days (usually {{usual}}; "
                      "peers {peer})",
            aggregate="share_alone", inputs=("card_meals_accompanied", "card_meals")))
        for prefix in (*EVENT_SOURCES.values(), "activity"):
            src = PREFIX_SOURCE[prefix]
            what_zh = "任一来源" if prefix == "activity" else f"{prefix}来源"
            feats.append(FeatureSpec(
                name=f"{prefix}__observed_days__{w}d", family="context", source=src, window_days=w,
                unit="days", concerning="none",
                description_zh=f"过去{w}天中{what_zh}有观测的天数（数据覆盖度，不是行为本身）",
                description_en=f"Days among the {w} before the as-of date on which the {prefix} source was "
                               "observed for the student (data coverage, not behaviour)",
                reason_zh=f"近{w}天{what_zh}有记录{{value}}天", reason_en=f"{prefix} data on {{value}} of the last {w} days",
                aggregate="observed_days", channel=f"observed_{prefix}"))
    return feats


def _change_features(recent: int, baseline: int) -> list[FeatureSpec]:
    out = []
    for ch_name in CHANGE_CHANNELS:
        ch = CHANNELS_BY_NAME[ch_name]
        out.append(FeatureSpec(
            name=f"{ch.prefix}__{ch.short}_change_z__{recent}d", family=ch.family, source=ch.source,
            window_days=recent, unit="robust z", concerning="either" if ch.concerning == "either" else ch.concerning,
            description_zh=f"近{recent}天{ch.label_zh}均值相对本人此前{baseline}天（按周均值）的稳健z分数："
                           "(近期均值-基线周均值中位数)/(1.4826×MAD+下限)",
            description_en=f"Robust z-score of {ch.label_en} (mean over the last {recent} days) against the "
                           f"student's own {baseline} days before (weekly means): (recent mean - median of "
                           "weekly means) / (1.4826 x MAD + floor)",
            # no "usual" clause: the usual of a z-score is a z-score, not the channel's usual
            # level, and the score already is the distance from the student's own usual
            reason_zh=f"近{recent}天{ch.label_zh}与本人以往相比变化明显（{{value}}个稳健标准差）",
            reason_en=f"{ch.label_en[:1].upper() + ch.label_en[1:]} over the last {recent} days moved {{value}} "
                      "robust SDs from the student's own usual",
            aggregate="change_z", channel=ch_name))
    return out


def _peer_features(base: dict[str, FeatureSpec]) -> list[FeatureSpec]:
    out = []
    for bname in PEER_BASES:
        b = base[bname]
        prefix, stem, win = bname.split("__")
        channel = CHANNELS_BY_NAME.get(b.channel or "")
        label_zh = channel.label_zh if channel else "独自就餐比例"
        label_en = channel.label_en if channel else "the share of meals eaten alone"
        for kind, zh, en in (("vs_class", "同班同学", "classmates"), ("vs_room", "室友", "roommates")):
            out.append(FeatureSpec(
                name=f"{prefix}__{stem}_{kind}__{win}", family=b.family, source=b.source,
                window_days=b.window_days, unit=duration_unit(b.unit), concerning=b.concerning,
                description_zh=f"{b.name} 与{zh}（不含本人）均值之差。" + b.description_zh,
                description_en=f"{b.name} minus the mean of the student's {en} (excluding the student). "
                               + b.description_en,
                # the value is a difference from the peers' mean, so the sentence says so
                reason_zh=f"近{win[:-1]}天{label_zh}与{zh}平均之差为{{value}}（本人此前通常为{{usual}}）",
                reason_en=f"Over the last {win[:-1]} days, {label_en} minus the {en}' mean: {{value}} "
                          f"(usually {{usual}})",
                aggregate=kind, inputs=(bname,)))
    return out


def _record_features() -> list[FeatureSpec]:
    G, S, K, LV = "grades", "census", "calendar", "leave_records"
    spec = [
        ("academic__failed_courses__all", "academic", G, None, "courses", "higher", "academic_failed",
         "截至预测日前已公布成绩中不及格课程门数（按成绩公布日期计）",
         "Failed courses among grades published before the as-of date",
         "已有{value}门课程不及格", "{value} failed course(s) so far"),
        ("academic__first_failure__28d", "academic", G, 28, "0/1", "higher", "academic_first_failure",
         "本人第一次不及格成绩是否在过去28天内公布", "Whether the student's first-ever failed grade was published in the last 28 days",
         "近28天出现了第一次不及格", "First-ever failed course published in the last 28 days"),
        ("academic__credits_behind__all", "academic", G, None, "credits", "higher", "academic_credits_behind",
         "已评分学期数×每学期计划学分 - 已获学分（按成绩公布日期计；正数为落后）",
         "Credits behind plan: graded terms x planned credits per term minus credits earned (positive: behind)",
         "落后培养计划{value}学分", "{value} credits behind the study plan"),
        ("academic__score_mean__latest", "academic", G, None, "points", "lower", "academic_latest_mean",
         "最近一个已公布成绩学期的学分加权平均分", "Credit-weighted mean score of the latest graded term",
         "最近一学期平均分{value}（以往为{usual}）", "Latest term's mean score {value} (earlier {usual})"),
        ("academic__score_change__latest", "academic", G, None, "points", "lower", "academic_score_change",
         "最近一个已公布成绩学期的加权平均分减去此前各学期的加权平均分",
         "Credit-weighted mean score of the latest graded term minus that of all earlier terms",
         "最近一学期平均分比以往下降{value}分", "Latest term's mean score changed by {value} points against earlier terms"),
        ("census__total_score__latest", "census", S, None, "points", "higher", "census_total",
         "预测日前最近一次心理普查的总分（量表见普查记录）", "Total score of the latest census assessment before the as-of date",
         "最近一次心理普查总分{value}", "Latest census total score {value}"),
        ("census__key_item__latest", "census", S, None, "0/1", "higher", "census_key_item",
         "最近一次普查关键条目（UPI第25题/PHQ-9第9题）是否阳性", "Whether the key item (UPI 25 / PHQ-9 9) was positive in the latest census",
         "最近一次普查关键条目阳性", "Key item positive in the latest census"),
        ("census__screen_level__latest", "census", S, None, "level 0-3", "higher", "census_screen_level",
         "最近一次普查筛查等级（0-3，3为最高关注）", "Screen level of the latest census (0-3, 3 highest concern)",
         "最近一次普查筛查等级为{value}", "Latest census screen level {value}"),
        ("census__days_since__latest", "census", S, None, "days", "none", "census_days_since",
         "距最近一次普查的天数", "Days since the latest census assessment",
         "最近一次普查在{value}天前", "Latest census {value} days ago"),
        ("context__is_teaching__asof", "context", K, None, "0/1", "none", "context_period_teaching",
         "预测日是否为教学周", "Whether the as-of date is a teaching day", "当前为教学周", "Teaching period"),
        ("context__is_exam__asof", "context", K, None, "0/1", "none", "context_period_exam",
         "预测日是否为考试周", "Whether the as-of date is in the exam period", "当前为考试周", "Exam period"),
        ("context__is_vacation__asof", "context", K, None, "0/1", "none", "context_period_vacation",
         "预测日是否为假期（寒暑假或节假日）", "Whether the as-of date is in a vacation or holiday",
         "当前为假期", "Vacation or holiday"),
        ("context__vacation_days__28d", "context", K, 28, "days", "none", "context_vacation_days",
         "过去28天中假期（寒暑假或节假日）的天数", "Vacation or holiday days among the 28 before the as-of date",
         "近28天有{value}天为假期", "{value} of the last 28 days were vacation"),
        ("context__leave_days__14d", "context", LV, 14, "days", "none", "context_leave_days",
         "过去14天中有请假记录覆盖的天数（请假开始时间早于预测日的记录）",
         "Days among the 14 before the as-of date covered by a leave record that started before the as-of date",
         "近14天有{value}天在请假", "On leave on {value} of the last 14 days"),
    ]
    return [FeatureSpec(name=n, family=f, source=s, window_days=w, unit=u, concerning=c, aggregate=a,
                        description_zh=dz, description_en=de, reason_zh=rz, reason_en=re)
            for n, f, s, w, u, c, a, dz, de, rz, re in spec]


def build_registry(windows: Iterable[int] = DEFAULT_WINDOWS, change_recent_days: int = 14,
                   change_baseline_days: int = 84) -> tuple[FeatureSpec, ...]:
    """All features for the given windows, in output column order.

    Peer-deviation features need their 14-day base features, so they appear only when 14 is
    among ``windows``.
    """
    windows = tuple(sorted({int(w) for w in windows}))
    feats = _window_features(windows)
    feats += _change_features(change_recent_days, change_baseline_days)
    by_name = {f.name: f for f in feats}
    if PEER_WINDOW in windows:
        feats += _peer_features(by_name)
    feats += _record_features()
    names = [f.name for f in feats]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate feature names in the registry: {sorted(dupes)}")
    return tuple(feats)


FEATURES: tuple[FeatureSpec, ...] = build_registry()


def registry_for(cfg: object | None = None) -> tuple[FeatureSpec, ...]:
    """The registry for a :class:`FeatureConfig` (the default registry when None)."""
    if cfg is None:
        return FEATURES
    windows = tuple(cfg.windows)  # type: ignore[attr-defined]
    recent = int(cfg.change_recent_days)  # type: ignore[attr-defined]
    base = int(cfg.change_baseline_days)  # type: ignore[attr-defined]
    if windows == DEFAULT_WINDOWS and recent == 14 and base == 84:
        return FEATURES
    return build_registry(windows, recent, base)


def feature_names(cfg: object | None = None, sources: Iterable[str] | None = None) -> list[str]:
    """Feature names in output order, for a config and (optionally) the present sources."""
    feats = registry_for(cfg)
    if sources is None:
        return [f.name for f in feats]
    present = set(sources)
    return [f.name for f in feats if source_available(f.source, present)]


def source_available(source: str, present: set[str]) -> bool:
    """Whether a feature or channel of ``source`` can be computed from the present tables."""
    if source == ANY_SOURCE:
        return bool(present & set(EVENT_SOURCES))
    return source in present
