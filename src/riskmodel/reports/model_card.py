"""Model card (Markdown and HTML) for a registered crisis-warning model.

``render_model_card(ModelCardInfo(...))`` returns ``(markdown, html)``: intended use, data and
period, features by family, evaluation with the oracle and the baselines, results by group,
calibration, positive predictive value at the chosen capacity beside the base rate, known
limitations and the as-of rule. It is pure; logging it to MLflow beside the model is the
tracking module's job (``mlflow.log_text(markdown, "model_card.md")``, same for html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from riskmodel.reports import charts
from riskmodel.reports.common import environment, render

INTENDED_USE = {
    "zh": ("供受过培训的辅导员和心理中心老师主动关心、提供支持时参考：预警是请人去关心的邀请，"
           "不是结论。绝不可用于处分、评优、招生、奖助或任何自动处理。"),
    "en": ("Supportive outreach by trained staff (counselors, the counselling center): a flag is an "
           "invitation to reach out and support, not a verdict. Never to be used for discipline, "
           "awards, admission, aid decisions or any automatic action."),
}
AS_OF_RULE = {
    "zh": ("某日的特征与评分只使用该日之前已知的记录：成绩自公布日起计入，普查自测评日起计入；"
           "之后追加的记录不会改变之前的特征。"),
    "en": ("A feature or score as of a date uses only records known before that date: grades count "
           "from their publication date, the census from its assessment date; appending later "
           "records never changes an earlier feature."),
}
DEFAULT_LIMITATIONS = {
    "zh": ["只能看到校园系统留下的行为痕迹；有的学生处境困难却没有任何行为变化。",
           "危机事件只有部分被记录，标签偏少；假期中记录更少。",
           "在模拟校园上训练与评估的数字不代表真实学校的表现，上线前须在本校数据上重新评估。",
           "小群体（如少数学院、特殊群体）的评估数字不稳定，已按最小组规模隐藏。"],
    "en": ["It sees only the traces campus systems leave; some students in trouble show no change at all.",
           "Only some crisis events are recorded, so labels are scarce; fewer still during vacations.",
           "Figures from a simulated campus do not describe a real university; re-evaluate on local "
           "data before any use.",
           "Figures for small groups are unstable and are suppressed under the minimum group size."],
}
CARD_LABELS = {
    "zh": {"title": "模型卡", "overview": "概况", "name": "模型", "version": "版本", "family": "模型类型",
           "task": "任务", "run": "MLflow 运行", "created": "生成时间", "intended": "预期用途",
           "data": "数据与时期", "train": "训练期", "test": "测试期", "students": "学生数",
           "features": "特征（按类别）", "n": "个数", "evaluation": "评估（与先知模型和基线对比）",
           "metric": "指标", "ppv_title": "容量下的阳性预测值",
           "ppv_text": "每周关注前 {cap} 的学生时，名单中 28 天内发生危机的比例为 {ppv}，全体基准发生率为 {base}（提升 {lift} 倍）。",
           "groups": "分组结果", "group_col": "分组", "group": "组", "suppressed": "样本过少，不显示",
           "calibration": "校准", "predicted": "预测概率", "observed": "实际发生率",
           "limitations": "已知局限", "as_of": "时点规则（as-of）",
           "oracle_note": "oracle 为知道模拟中隐藏状态的“先知”模型，是可达到的上限。"},
    "en": {"title": "Model card", "overview": "Overview", "name": "Model", "version": "Version",
           "family": "Model family", "task": "Task", "run": "MLflow run", "created": "Created",
           "intended": "Intended use", "data": "Data and period", "train": "Training period",
           "test": "Test period", "students": "Students", "features": "Features by family", "n": "count",
           "evaluation": "Evaluation (beside the oracle and the baselines)", "metric": "Metric",
           "ppv_title": "Positive predictive value at capacity",
           "ppv_text": "Flagging the top {cap} of students each week, {ppv} of those flagged had a crisis within 28 days, against a base rate of {base} (lift {lift}).",
           "groups": "Results by group", "group_col": "Grouping", "group": "Group",
           "suppressed": "too few to show", "calibration": "Calibration", "predicted": "predicted",
           "observed": "observed", "limitations": "Known limitations", "as_of": "The as-of rule",
           "oracle_note": "The oracle knows the simulator's hidden state: an upper bound of what is achievable."},
}
METRIC_LABELS = {
    "auroc": "AUROC", "auprc": "AUPRC", "base_rate": "base rate", "precision_at_capacity": "precision@capacity",
    "recall_at_capacity": "recall@capacity", "event_recall": "event recall",
    "median_lead_days": "median lead (days)", "brier": "Brier", "ece": "ECE", "ppv_lift": "PPV / base rate",
}


@dataclass
class ModelCardInfo:
    """Facts about one registered model and its evaluation (plain data, no MLflow objects).

    evaluation : index metric, columns the model and each comparison (e.g. "oracle",
        "census screen", "logistic regression"); an ``EvalResult.overall`` joined with the
        baselines' ``overall`` columns fits.
    groups : long table group_column, group, metric, value[, n_rows, suppressed] (``EvalResult.groups``).
    calibration : predicted (mean), observed (rate)[, n] per bin.
    features : name, family[, description_zh, description_en].
    """

    name: str
    version: str
    model_family: str
    task: str = "P(crisis level >= 1 within 28 days) at each weekly as-of date"
    data_description: str = ""
    period_train: tuple[str, str] | None = None
    period_test: tuple[str, str] | None = None
    n_students: int | None = None
    horizon_days: int = 28
    capacity: float = 0.01
    evaluation: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    features: pd.DataFrame = field(default_factory=pd.DataFrame)
    limitations: list[str] = field(default_factory=list)
    run_id: str | None = None
    created: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _card_context(info: ModelCardInfo, lang: str) -> dict[str, Any]:
    ev = info.evaluation
    eval_cols = [str(c) for c in ev.columns]
    eval_rows = [{"metric": METRIC_LABELS.get(str(m), str(m)), "values": [_fmt(ev.loc[m, c]) for c in ev.columns]}
                 for m in ev.index]
    ppv = base = None
    if not ev.empty and ev.columns.size:
        col = ev.columns[0]
        if "precision_at_capacity" in ev.index:
            ppv = ev.loc["precision_at_capacity", col]
        if "base_rate" in ev.index:
            base = ev.loc["base_rate", col]
    feats = []
    if not info.features.empty:
        dcol = f"description_{lang}" if f"description_{lang}" in info.features.columns else None
        for fam, sub in info.features.groupby("family", sort=True):
            feats.append({"family": fam, "n": len(sub),
                          "names": [{"name": r["name"], "description": r[dcol] if dcol else ""}
                                    for r in sub.to_dict("records")]})
    groups = []
    g = info.groups
    if not g.empty:
        show = g[g["metric"].isin(["auroc", "recall_at_capacity", "precision_at_capacity", "base_rate", "ece"])]
        for (gc, grp), sub in show.groupby(["group_column", "group"], sort=True):
            vals = dict(zip(sub["metric"], sub["value"], strict=False))
            sup = bool(sub["suppressed"].any()) if "suppressed" in sub.columns else False
            n = int(sub["n_rows"].iloc[0]) if "n_rows" in sub.columns else None
            groups.append({"column": gc, "group": grp, "n": n, "suppressed": sup,
                           "auroc": _fmt(vals.get("auroc")), "recall": _fmt(vals.get("recall_at_capacity")),
                           "precision": _fmt(vals.get("precision_at_capacity")),
                           "base_rate": _fmt(vals.get("base_rate")), "ece": _fmt(vals.get("ece"))})
    calib = [{"predicted": _fmt(r["predicted"]), "observed": _fmt(r["observed"]), "n": r.get("n", "")}
             for r in info.calibration.to_dict("records")] if not info.calibration.empty else []
    return {"L": CARD_LABELS[lang], "info": info, "intended_use": INTENDED_USE[lang], "as_of_rule": AS_OF_RULE[lang],
            "limitations": list(info.limitations) + DEFAULT_LIMITATIONS[lang], "eval_cols": eval_cols,
            "eval_rows": eval_rows, "ppv": _fmt(ppv), "base": _fmt(base),
            "lift": f"{float(ppv) / float(base):.1f}" if ppv is not None and base and not pd.isna(ppv) else "—",
            "features": feats, "groups": groups, "calib": calib, "capacity_pct": f"{100 * info.capacity:g}%"}


def render_model_card(info: ModelCardInfo, lang: str = "zh") -> tuple[str, str]:
    """The model card as ``(markdown, html)`` in ``lang`` ("zh" default, or "en").

    The HTML is self-contained (calibration chart embedded). Hook for the tracking module::

        md, html = render_model_card(info, lang)
        client.log_text(run_id, md, f"model_card/model_card_{lang}.md")
        client.log_text(run_id, html, f"model_card/model_card_{lang}.html")
    """
    if lang not in CARD_LABELS:
        raise ValueError(f"lang must be one of {tuple(CARD_LABELS)}, got {lang!r}")
    ctx = _card_context(info, lang)
    md = environment().get_template("model_card.md.j2").render(t=None, lang=lang, **ctx)
    chart = None
    if not info.calibration.empty:
        cal = info.calibration.copy()
        if "n" not in cal.columns:
            cal["n"] = 1
        chart = charts.calibration_chart(cal, "calibration" if lang == "en" else "校准",
                                         "predicted" if lang == "en" else "预测概率",
                                         "observed" if lang == "en" else "实际发生率")
    html = render("model_card.html", lang, title=f"{CARD_LABELS[lang]['title']} · {info.name} v{info.version}",
                  chart=chart, generated_at=info.created, **ctx)
    return md, html


def card_info_from_evaluation(name: str, version: str, model_family: str, evaluation: Any, *,
                              baselines: dict[str, Any] | None = None, features: Any = None,
                              **facts: Any) -> ModelCardInfo:
    """A :class:`ModelCardInfo` from a ``riskmodel.evaluate.EvalResult`` (model + oracle) and
    the baselines' results (``{"census screen": EvalResult, ...}``).

    features : a DataFrame (name, family[, description_zh, description_en]) or an iterable of
        feature specs with those attributes (e.g. ``riskmodel.features.FEATURES``).
    facts : any other :class:`ModelCardInfo` field (period_train, n_students, run_id, ...).
    """
    ev = evaluation.overall.copy()
    for label, res in (baselines or {}).items():
        ev[label] = res.overall["model"].reindex(ev.index)
    if features is not None and not isinstance(features, pd.DataFrame):
        features = pd.DataFrame([{"name": getattr(f, "name", str(f)), "family": getattr(f, "family", ""),
                                  "description_zh": getattr(f, "description_zh", ""),
                                  "description_en": getattr(f, "description_en", "")} for f in features])
    return ModelCardInfo(name=name, version=str(version), model_family=model_family, evaluation=ev,
                         groups=evaluation.groups, calibration=evaluation.curves.get("calibration", pd.DataFrame()),
                         features=features if features is not None else pd.DataFrame(), **facts)
