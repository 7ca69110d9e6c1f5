"""The simulated campus: riskmodel's embedded default data, with hidden ground truth apart.

``simulate_to_folder(cfg, out_dir)`` writes the eleven contract-v1 source tables exactly as a
university information center would export them (Parquet, raw student numbers) and a
``truth/`` folder that only ``simulate`` and ``evaluate`` may read: daily well-being and
crisis hazard, every crisis (recorded or not), episodes, each night's whereabouts, hardship,
gate outages, hidden traits, and the oracle risk for every student and Monday.

Magnitudes and where they come from
-----------------------------------
* Campus-card rows: about 2-3 purchases per student per teaching day (meals, supermarket,
  shower, laundry, printing). Published analyses of Chinese campus-card logs report a few
  card swipes per student per day (e.g. the 2016-17 DataCastle "precise aid" competition
  data of UESTC, 2013-2015: about 5 rows per active student-day counting hot-water taps,
  median canteen swipe 4 CNY at 2013 prices; shared/datasets/uestc-card, used here only to
  check magnitudes, never shipped).
* Canteen prices: lunch or dinner 8-15 CNY, breakfast 3-6 CNY (university canteen price
  lists and student surveys of the 2020s; the UESTC 2013-15 median of 4 CNY per swipe, one
  dish, inflated and summed over a meal, lands in the same band).
* Monthly living spending near 1,200 CNY with food about a third (surveys of Chinese
  undergraduates' consumption, e.g. the China Youth Daily / MyCOS college-student
  consumption reports and provincial student surveys, 1,000-1,500 CNY a month); here card
  spending plus an off-card part (phone, clothes, online shopping) held in the truth.
* A shower swipe is under 1 CNY (metered bathhouse water, 0.3-0.95 CNY per swipe).
* Crises follow sustained low well-being (the hazard reads a one-week smoothed level).
* Crises: counselling-centre figures put students needing crisis intervention at a few per
  cent a year and suicide attempts at about 0.1-0.3 per cent; the default hazard aims at
  2-4 % a year at level >= 1 recorded and 0.1-0.3 % at level 3.
* UPI census: 56 scored items, class I at >= 25 or item 25 positive; class I shares of
  10-20 % among first-years are typical in Chinese universities' reports.
* Hardship: about a fifth of students are from families in economic hardship (national
  student-aid statistics); a third to a half of them never apply.

Sources of difficulty, on purpose: individual routines differ more than trouble moves them;
behaviour reads a lagged well-being with student-specific sensitivities and lags, each
student reacting on only some channels; 15 % of the students never show their state; crises are recorded with probability below one; the
census is noisy and some answer defensively.
"""

from riskmodel.simulate.config import SimConfig, load_config
from riskmodel.simulate.core import TRUTH_DIR, simulate_to_folder
from riskmodel.simulate.summary import SimSummary

__all__ = ["TRUTH_DIR", "SimConfig", "SimSummary", "load_config", "simulate_to_folder"]
