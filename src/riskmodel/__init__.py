"""riskmodel: early warning of student mental-health crises from campus-life records.

Data flows one way: contracts -> features -> datasets -> models -> evaluate/explain ->
scoring -> reports. See DESIGN.md for the architecture and the principles (human review,
privacy, scoped access, point-in-time correctness, fairness).
"""

__version__ = "0.1.0"

#: Local time zone of every timestamp in contract v1.
LOCAL_TZ = "Asia/Shanghai"
