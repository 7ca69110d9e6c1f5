"""A minimal loader for the UESTC campus-card export (validation of hidden aid on real data).

The data lives outside the repository (``<repo>/../shared/datasets/uestc-card``, or
``$RISKMODEL_SHARED_DIR/datasets/uestc-card``); this module maps its purchases into the
contract-v1 ``card_transactions`` shape (plus ``balance``) and its grants into labels. The
full import adapter is the adapters issue; this is the minimum the evaluation needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

#: 消费方式 -> contract-v1 category
MODE_TO_CATEGORY = {
    "食堂": "canteen", "超市": "supermarket", "淋浴": "bathhouse", "开水": "other", "洗衣房": "laundry",
    "图书馆": "other", "文印中心": "print", "教务处": "other", "校车": "transport", "校医院": "medical",
    "其他": "other",
}
SPENDING_KINDS = ("POS消费", "车载消费")


def uestc_dir() -> Path:
    """Where the UESTC card data is expected (may not exist)."""
    env = os.environ.get("RISKMODEL_SHARED_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared"
    return base / "datasets" / "uestc-card"


def load_uestc_card(folder: str | Path | None = None, student_ids: list[int] | None = None
                    ) -> tuple[pd.DataFrame, pd.Series]:
    """Purchases as DataFrame[student_id, ts, merchant_id, category, amount, balance] and
    the label Series ``received_aid`` (subsidy > 0) indexed by student_id (str).

    Top-ups, transfers and card administration rows are not spending and are dropped, as
    are non-positive amounts. ``student_ids`` (the export's integer ids) reads only those
    students. Raises FileNotFoundError naming the folder when it is absent.
    """
    d = Path(folder) if folder is not None else uestc_dir()
    if not (d / "card.parquet").is_file() or not (d / "subsidy.csv").is_file():
        raise FileNotFoundError(f"UESTC card data not found in {d} (card.parquet, subsidy.csv); "
                                "set RISKMODEL_SHARED_DIR to the folder holding datasets/uestc-card")
    filters = [("id", "in", [int(i) for i in student_ids])] if student_ids is not None else None
    raw = pd.read_parquet(d / "card.parquet", columns=["id", "kind", "location", "mode", "time", "amount", "balance"],
                          filters=filters)
    raw = raw.loc[raw["kind"].astype(str).isin(SPENDING_KINDS) & (raw["amount"] > 0)]
    mode = raw["mode"].astype(str)
    cat = mode.map(MODE_TO_CATEGORY).fillna("other")
    cat = cat.where(raw["kind"].astype(str) != "车载消费", "transport")
    card = pd.DataFrame({
        "student_id": raw["id"].astype(str).to_numpy(),
        "ts": pd.to_datetime(raw["time"]).astype("datetime64[ns]").to_numpy(),
        "merchant_id": raw["location"].astype(str).to_numpy(),
        "category": cat.to_numpy(),
        "amount": raw["amount"].astype(float).to_numpy(),
        "balance": raw["balance"].astype(float).to_numpy(),
    })
    sub = pd.read_csv(d / "subsidy.csv")
    if student_ids is not None:
        sub = sub.loc[sub["id"].isin([int(i) for i in student_ids])]
    labels = pd.Series((sub["subsidy"] > 0).to_numpy(), index=sub["id"].astype(str), name="received_aid")
    return card, labels
