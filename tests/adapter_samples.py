"""Hand-made export samples for the three shipped layouts, written in their real encodings.

Each ``write_*`` function writes a small export into a folder exactly as the campus system
would (GBK CSV, UTF-16 tab-separated text, Parquet + CSV) and each ``EXPECTED_*`` holds
what the import must produce from it. All ids and names are invented.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# ----------------------------------------------------------------------------- YKT_JYRZ (GBK CSV)

YKT_COLUMNS = ["xh", "xm", "jylx", "jyje", "jyrq", "jysj", "jydd", "shdm", "shmc", "zdjh", "jyye"]
# xm (name) is in the export but not in the layout: it must never be read.
YKT_ROWS = [
    ["2023010101", "张三", "消费", "-4.50", "20240304", "73015", "第一食堂", "SH001", "一食堂3号窗口", "T0101", "95.50"],
    ["2023010101", "张三", "消费", "-12.00", "20240304", "120501", "第一食堂", "SH002", "一食堂风味", "T0102", "83.50"],
    ["2023010101", "张三", "充值", "100.00", "20240304", "180000", "圈存机", "QC01", "圈存", "T9001", "183.50"],
    ["2023010102", "李四", "消费", "-23.80", "20240305", "181005", "北区超市", "SH101", "教育超市", "T0201", "76.20"],
    ["2023010102", "李四", "消费", "-1.20", "20240305", "213000", "3号楼浴室", "SH201", "浴室", "T0301", "75.00"],
    ["2023010102", "李四", "冲正", "12.00", "20240305", "213500", "第一食堂", "SH002", "一食堂风味", "T0102", "87.00"],
    ["2022020201", "王五", "消费", "-3.00", "20240306", "90000", "校医院", "SH301", "校医院药房", "T0401", "47.00"],
    ["2022020201", "王五", "补助", "200.00", "20240306", "100000", "财务处", "CW01", "补助发放", "T9002", "247.00"],
    ["2022020201", "王五", "消费", "-4.00", "2024030X", "110000", "第一食堂", "SH001", "一食堂3号窗口", "T0101", "243.00"],
    ["2022020201", "王五", "消费", "0.00", "20240306", "111500", "第一食堂", "SH001", "一食堂3号窗口", "T0101", "243.00"],
    ["2023010101", "张三", "消费", "-4.50", "20240304", "73015", "第一食堂", "SH001", "一食堂3号窗口", "T0101", "95.50"],
    ["2022020201", "王五", "消费", "-2.00", "20240306", "120000", "图书馆", "SH401", "图书馆复印", "T0501", "241.00"],
    ["0021001", "赵六", "充值", "50.00", "20240307", "080000", "圈存机", "QC01", "圈存", "T9001", "50.00"],
]
YKT_FILE = "YKT_JYRZ_202403.csv"

EXPECTED_YKT_CARD = pd.DataFrame(
    {
        "student_id": ["2023010101", "2023010101", "2023010102", "2023010102", "2022020201", "2022020201"],
        "ts": pd.to_datetime(["2024-03-04 07:30:15", "2024-03-04 12:05:01", "2024-03-05 18:10:05",
                              "2024-03-05 21:30:00", "2024-03-06 09:00:00", "2024-03-06 12:00:00"]),
        "merchant_id": ["SH001", "SH002", "SH101", "SH201", "SH301", "SH401"],
        "category": ["canteen", "canteen", "supermarket", "bathhouse", "medical", "other"],
        "amount": [4.5, 12.0, 23.8, 1.2, 3.0, 2.0],
    }
)
EXPECTED_YKT_DROPPED = {
    "top-up (充值)": 2,
    "bank transfer onto the card (圈存)": 0,
    "subsidy paid onto the card (补助)": 1,
    "reversal or refund (冲正/退款)": 1,
    "purchase with a zero or positive amount (not a debit)": 1,
}
EXPECTED_YKT_QUARANTINED = {
    "ts: unparseable time in jyrq+jysj (format %Y%m%d %H%M%S)": 1,
    "(row): duplicate_key": 1,
}
EXPECTED_YKT_STUDENTS = ["0021001", "2022020201", "2023010101", "2023010102"]


def ykt_frame(rows: list[list[str]] | None = None) -> pd.DataFrame:
    return pd.DataFrame(rows if rows is not None else YKT_ROWS, columns=YKT_COLUMNS)


def write_ykt(folder: Path, rows: list[list[str]] | None = None, *, encoding: str = "gbk",
              frame: pd.DataFrame | None = None, name: str = YKT_FILE) -> Path:
    """Write a YKT_JYRZ export as the campus-card system does (GBK CSV)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    (frame if frame is not None else ykt_frame(rows)).to_csv(path, index=False, encoding=encoding)
    return path


# ----------------------------------------------------------------------------- door log (UTF-16 TSV)

DOOR_COLUMNS = ["学号", "姓名", "进出时间", "进出地点", "进出方向", "是否通过"]
DOOR_ROWS = [
    ["2023010101", "张三", "2024/3/4 7:50:02", "学生公寓1栋东门", "1", "是"],
    ["2023010101", "张三", "2024/3/4 22:10:00", "学生公寓1栋西门", "0", "是"],
    ["2023010102", "李四", "2024/3/4 8:30:00", "学生公寓2栋南门", "1", "是"],
    ["2023010102", "李四", "2024/3/5 1:20:00", "学生公寓2栋南门", "0", "否"],
    ["2023010102", "李四", "2024/3/5 1:21:30", "学生公寓2栋南门", "0", "是"],
    ["2022020201", "王五", "2024/3/5 23:59:59", "研究生公寓12号楼大门", "0", "是"],
    ["2022020201", "王五", "2024/13/5 8:00:00", "研究生公寓12号楼大门", "1", "是"],
]
DOOR_FILE = "门禁记录_202403.txt"
EXPECTED_DOOR = pd.DataFrame(
    {
        "student_id": ["2023010101", "2023010101", "2023010102", "2023010102", "2022020201"],
        "ts": pd.to_datetime(["2024-03-04 07:50:02", "2024-03-04 22:10:00", "2024-03-04 08:30:00",
                              "2024-03-05 01:21:30", "2024-03-05 23:59:59"]),
        "building": ["学生公寓1栋", "学生公寓1栋", "学生公寓2栋", "学生公寓2栋", "研究生公寓12号楼"],
        "direction": ["out", "in", "out", "in", "in"],
    }
)
EXPECTED_DOOR_DROPPED = {"gate not passed (是否通过 = 否)": 1}
EXPECTED_DOOR_QUARANTINED = {"ts: unparseable time in 进出时间 (format %Y/%m/%d %H:%M:%S)": 1}


def write_door(folder: Path, rows: list[list[str]] | None = None, *, encoding: str = "utf-16",
               name: str = DOOR_FILE) -> Path:
    """Write a door log as Excel's "Unicode text" export does (UTF-16 with BOM, tab-separated)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    lines = ["\t".join(DOOR_COLUMNS)] + ["\t".join(r) for r in (rows if rows is not None else DOOR_ROWS)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


# ----------------------------------------------------------------------------- UESTC-shaped mini export

UESTC_CARD = pd.DataFrame(
    {
        "id": pd.array([8, 8, 8, 8, 10, 10, 10, 10, 10, 19, 19], dtype="int32"),
        "kind": pd.Categorical(["POS消费", "POS消费", "卡充值", "POS消费", "POS消费", "", "POS消费", "POS消费",
                                "卡挂失", "车载消费", "POS消费"]),
        "location": pd.Categorical(["地点21", "地点91", "", "地点326", "地点232", "", "", "地点232", "",
                                    "地点1989", "地点21"]),
        "mode": pd.Categorical(["食堂", "校车", "", "洗衣房", "食堂", "", "", "食堂", "", "校车", "淋浴"]),
        "time": pd.to_datetime(["2013-09-01 11:30:20", "2013-09-01 11:31:08", "2013-09-01 12:00:00",
                                "2013-09-09 21:00:28", "2014-03-01 12:00:00", "2014-04-20 20:35:27",
                                "2014-05-01 12:00:00", "2014-03-01 12:00:00", "2014-06-01 09:00:00",
                                "2015-07-23 02:03:21", "2016-01-01 08:00:00"]),
        "amount": [4.1, 2.0, 100.0, -2.7, 4.5, 20.0, 3.9, 4.5, 0.0, 4.0, 0.5],
        "balance": [65.02, 63.02, 163.02, 165.72, 50.0, 30.0, 26.1, 21.6, 21.6, 2.61, 9.0],
    }
)
UESTC_SUBSIDY = "id,subsidy\n8,0\n10,1500\n19,2000\n22,0\n"  # 22: a labelled student with no card rows
UESTC_SCORE = "id,college,rank\n8,6,1565\n10,3,1\n22,8,1734\n"  # 19 has no score row: college unknown

EXPECTED_UESTC_CARD = pd.DataFrame(
    {
        "student_id": ["8", "8", "10", "19"],
        "ts": pd.to_datetime(["2013-09-01 11:30:20", "2013-09-01 11:31:08", "2014-03-01 12:00:00",
                              "2015-07-23 02:03:21"]),
        "merchant_id": ["地点21", "地点91", "地点232", "地点1989"],
        "category": ["canteen", "transport", "canteen", "transport"],
        "amount": [4.1, 2.0, 4.5, 4.0],
    }
)
EXPECTED_UESTC_QUARANTINED = {
    "(row): duplicate_key": 1,
    "category: not_nullable; merchant_id: not_nullable": 1,
    "ts: outside_data_period": 1,
}


def write_uestc(folder: Path) -> Path:
    """Write a UESTC-shaped export (card.parquet, subsidy.csv, score.csv) with invented rows."""
    folder.mkdir(parents=True, exist_ok=True)
    UESTC_CARD.to_parquet(folder / "card.parquet", index=False)
    (folder / "subsidy.csv").write_text(UESTC_SUBSIDY, encoding="utf-8")
    (folder / "score.csv").write_text(UESTC_SCORE, encoding="utf-8")
    return folder
