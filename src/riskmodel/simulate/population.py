"""The students: roster attributes (contract ``students``) and hidden per-student traits.

Generated once for the whole campus (cheap: one row per student), before the chunked
day-by-day simulation. Students are ordered by class, and dorm rooms (four beds) are filled
within a class and gender, so a chunk made of whole classes holds whole rooms: roommates who
eat together are always simulated together.

When the period spans more than one academic year, a new intake enrols each September (in
a new building) and finishing cohorts graduate on June 30: the roster lists everyone
enrolled at some time in the period, with their active days kept in the hidden traits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta

import numpy as np
import pandas as pd

from riskmodel.simulate.calendar import academic_year_of
from riskmodel.simulate.config import SimConfig

DEGREES = ("undergraduate", "master", "doctoral")
PROGRAM_YEARS = (4, 3, 5)
CHANNELS = ("return", "night_net", "meals", "social", "library", "away")
COLLEGES = ("CS", "EE", "ME", "CE", "MATH", "PHYS", "CHEM", "BIO", "ECON", "MGMT", "LAW", "LIT",
            "ART", "MED", "ENV", "EDU")


@dataclass
class Population:
    """Per-student arrays (index = position in the roster, which is ordered by class)."""

    student_id: np.ndarray  # str (object)
    college: np.ndarray  # int
    major: np.ndarray  # int (global major index)
    class_idx: np.ndarray  # int (global class index; roster is sorted by it)
    class_no: np.ndarray  # int (class number within college and enrollment year)
    degree: np.ndarray  # int index into DEGREES
    enrollment_year: np.ndarray
    male: np.ndarray  # bool
    resident: np.ndarray  # bool
    building: np.ndarray  # int (-1 off campus)
    room: np.ndarray  # int global room index (-1 off campus)
    room_label: np.ndarray  # str or None
    counselor: np.ndarray  # int
    single_parent_or_orphan: np.ndarray
    disability: np.ndarray
    readmitted: np.ndarray
    active_from: np.ndarray  # day index (may be < 0)
    active_to: np.ndarray  # day index, exclusive
    # hidden traits
    mu: np.ndarray
    vulnerability: np.ndarray
    ar_sd: np.ndarray
    exam_sensitivity: np.ndarray
    lag_days: np.ndarray
    silent_in_trouble: np.ndarray
    away_type: np.ndarray
    sens: np.ndarray  # (n, len(CHANNELS))
    eats_out: np.ndarray
    card_unused: np.ndarray
    local_home: np.ndarray
    leave_compliance: np.ndarray
    wake_hour: np.ndarray
    sleep_hour: np.ndarray
    return_hour: np.ndarray
    return_sd_h: np.ndarray
    p_breakfast: np.ndarray
    p_lunch: np.ndarray
    p_dinner: np.ndarray
    p_together: np.ndarray
    p_library: np.ndarray
    net_sessions: np.ndarray
    night_owl: np.ndarray
    p_midday_return: np.ndarray
    p_benign_out: np.ndarray
    family_income: np.ndarray
    hardship: np.ndarray
    applied_for_aid: np.ndarray
    price_level: np.ndarray
    offcard_monthly: np.ndarray
    ability: np.ndarray
    defensive: np.ndarray
    home_canteen: np.ndarray
    n_buildings: int = 0

    @property
    def n(self) -> int:
        return len(self.student_id)

    def take(self, idx: np.ndarray) -> Population:
        """The sub-population at positions ``idx`` (a chunk)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[idx] if isinstance(v, np.ndarray) else v
        return Population(**out)


def _beta_mean(rng: np.random.Generator, mean: float, conc: float, n: int) -> np.ndarray:
    mean = float(np.clip(mean, 1e-3, 1 - 1e-3))
    return rng.beta(mean * conc, (1 - mean) * conc, n)


def _cohorts(cfg: SimConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Degree, enrollment year, active_from and active_to (day indices) of every student."""
    start = cfg.start_date
    end = start + timedelta(days=cfg.days)
    ay0 = academic_year_of(start)
    ay_last = academic_year_of(end - timedelta(days=1))
    pc = cfg.population
    shares = np.array([pc.share_undergraduate, pc.share_master,
                       max(0.0, 1 - pc.share_undergraduate - pc.share_master)])
    shares = shares / shares.sum()
    n0 = cfg.students
    degree = rng.choice(3, size=n0, p=shares)
    ey = np.empty(n0, dtype=np.int64)
    for k, years in enumerate(PROGRAM_YEARS):
        m = degree == k
        w = np.linspace(1.0, 0.7, years) if k == 2 else np.ones(years)
        ey[m] = ay0 - rng.choice(years, size=int(m.sum()), p=w / w.sum())
    degrees = [degree]
    eys = [ey]
    for ay in range(ay0 + 1, ay_last + 1):  # new intakes
        n_new = int(round(n0 * sum(s / y for s, y in zip(shares, PROGRAM_YEARS, strict=True))))
        d_new = rng.choice(3, size=n_new, p=shares)
        degrees.append(d_new)
        eys.append(np.full(n_new, ay, dtype=np.int64))
    degree = np.concatenate(degrees)
    ey = np.concatenate(eys)
    program = np.array(PROGRAM_YEARS)[degree]
    start_ord = start.toordinal()
    active_from = np.array([date(int(y), 9, 1).toordinal() - start_ord for y in ey])
    active_from = np.minimum(active_from, 0) * (ey <= ay0) + active_from * (ey > ay0)
    active_to = np.array([date(int(y) + int(n), 6, 30).toordinal() + 1 - start_ord
                          for y, n in zip(ey, program, strict=True)])
    active_to = np.minimum(active_to, cfg.days)
    return degree, ey, active_from.astype(np.int64), active_to.astype(np.int64)


def build_population(cfg: SimConfig, rng: np.random.Generator) -> Population:
    """Draw the whole roster and the hidden traits (deterministic for a given ``rng``)."""
    pc, ec, wc = cfg.population, cfg.economy, cfg.wellbeing
    degree, ey, active_from, active_to = _cohorts(cfg, rng)
    n = len(degree)
    n_col = min(pc.n_colleges, len(COLLEGES))
    col_w = rng.uniform(0.6, 1.4, n_col)
    college = rng.choice(n_col, size=n, p=col_w / col_w.sum())
    major = college * pc.majors_per_college + rng.integers(0, pc.majors_per_college, n)
    male_share = np.clip(rng.normal(pc.share_male, 0.15, n_col), 0.15, 0.85)
    male = rng.random(n) < male_share[college]
    # classes: undergraduates per (major, year), graduates per (college, degree, year)
    group_major = np.where(degree == 0, major, college * 10 + degree)
    order = np.lexsort((rng.random(n), male, group_major, degree, ey, college))
    degree, ey, college, major, male = degree[order], ey[order], college[order], major[order], male[order]
    active_from, active_to, group_major = active_from[order], active_to[order], group_major[order]
    key = pd.DataFrame({"c": college, "y": ey, "d": degree, "g": group_major})
    grp = key.groupby(["c", "y", "d", "g"], sort=False).ngroup().to_numpy()
    pos_in_grp = key.groupby(["c", "y", "d", "g"], sort=False).cumcount().to_numpy()
    # interleave genders inside a class: position by random order within group, then split
    sub = pos_in_grp // pc.class_size
    cls_key = pd.DataFrame({"grp": grp, "sub": sub})
    class_idx = cls_key.groupby(["grp", "sub"], sort=False).ngroup().to_numpy()
    cls_first = pd.DataFrame({"cls": class_idx, "c": college, "y": ey}).drop_duplicates("cls")
    cls_first["no"] = cls_first.groupby(["c", "y"]).cumcount() + 1
    class_no = cls_first.set_index("cls")["no"].reindex(class_idx).to_numpy()
    # residency
    off = np.array([pc.off_campus_undergraduate, pc.off_campus_master, pc.off_campus_doctoral])[degree]
    resident = rng.random(n) >= off
    # rooms of four within (class, gender)
    rk = pd.DataFrame({"cls": class_idx, "m": male, "r": resident})
    rk["k"] = rk.groupby(["cls", "m", "r"], sort=False).cumcount() // 4
    room = rk.groupby(["cls", "m", "r", "k"], sort=False).ngroup().to_numpy()
    room = np.where(resident, room, -1)
    # buildings: residents by (intake year for new intakes, gender); rooms filled in order
    ay0 = academic_year_of(cfg.start_date)
    bkey = np.where(ey > ay0, ey - ay0, 0) * 2 + male.astype(int)
    building = np.full(n, -1, dtype=np.int64)
    room_label = np.full(n, None, dtype=object)
    next_b = 0
    per_b_rooms = max(1, pc.students_per_building // 4)
    for bk in np.unique(bkey):
        m = resident & (bkey == bk)
        rooms_here = np.unique(room[m])
        if rooms_here.size == 0:
            continue
        r_pos = np.searchsorted(rooms_here, room[m])
        b_local = r_pos // per_b_rooms
        building[m] = next_b + b_local
        seq = r_pos % per_b_rooms
        floor = seq // 40 + 1
        no = seq % 40 + 1
        bnum = building[m] + 1
        room_label[m] = [f"B{b:02d}-{f}{r:02d}" for b, f, r in zip(bnum, floor, no, strict=True)]
        next_b = int(building[m].max()) + 1
    # counselors per (college, degree, year)
    ckey = pd.DataFrame({"c": college, "d": degree, "y": ey})
    cg = ckey.groupby(["c", "d", "y"], sort=False)
    counselor = (cg.ngroup() * 100 + cg.cumcount() // pc.students_per_counselor).to_numpy()
    _, counselor = np.unique(counselor, return_inverse=True)
    # student numbers: year + college + class + seq within class
    seq = pd.Series(class_idx).groupby(class_idx).cumcount().to_numpy() + 1
    wc_ = max(2, len(str(int(class_no.max()))))
    ws = max(2, len(str(int(seq.max()))))
    student_id = np.array([f"{y}{c + 1:02d}{k:0{wc_}d}{s:0{ws}d}"
                           for y, c, k, s in zip(ey, college, class_no, seq, strict=True)], dtype=object)
    special_sp = rng.random(n) < pc.single_parent_or_orphan
    disability = rng.random(n) < pc.disability
    readmitted = (rng.random(n) < pc.readmitted) & (degree == 0)
    # economy
    income = np.exp(rng.normal(0, ec.income_log_sd, n) - 0.15 * special_sp)
    hardship = income <= np.quantile(income, ec.hardship_share)
    applied = np.where(hardship, rng.random(n) < ec.apply_if_hardship,
                       (rng.random(n) < ec.apply_if_not) & (income < np.quantile(income, 0.4)))
    price_level = np.where(hardship, ec.hardship_price_factor, 1.0) * np.exp(
        0.12 * np.log(income) + rng.normal(0, 0.08, n))
    offcard = ec.offcard_monthly_median * np.exp(0.6 * np.log(income) + rng.normal(0, 0.3, n))
    # well-being traits
    mu = rng.normal(0, wc.trait_sd, n) - 0.2 * special_sp - 0.2 * readmitted - 0.1 * disability \
        - 0.08 * hardship
    vulnerability = rng.normal(0, cfg.crisis.vulnerability_sd, n)
    ar_sd = wc.ar_sd * np.exp(rng.normal(0, 0.25, n))
    exam_sens = np.exp(rng.normal(0, 0.5, n))
    lag = rng.uniform(wc.lag_days_min, wc.lag_days_max, n)
    silent = rng.random(n) < pc.silent_in_trouble
    active_ch = rng.random((n, len(CHANNELS))) < pc.channel_active
    sens = np.exp(rng.normal(-wc.sensitivity_sd ** 2 / 2, wc.sensitivity_sd, (n, len(CHANNELS))))
    sens = sens * active_ch * (~silent)[:, None]
    away_type = rng.random(n) < pc.away_type
    eats_out = rng.random(n) < pc.eats_out * np.where(hardship, 0.4, 1.0)
    rc = cfg.routine
    grad = degree > 0
    p_b = _beta_mean(rng, rc.breakfast, 3.0, n)
    p_l = _beta_mean(rng, rc.lunch, 8.0, n) * np.where(eats_out, 0.45, 1.0)
    p_d = _beta_mean(rng, rc.dinner, 8.0, n) * np.where(eats_out, 0.40, 1.0)
    p_b = p_b * np.where(eats_out, 0.6, 1.0)
    hours = dict(
        wake_hour=np.clip(rng.normal(7.2 + 0.5 * grad, 0.7, n), 5.8, 10.5),
        sleep_hour=np.clip(rng.normal(23.6 + 0.3 * grad, 0.7, n), 21.5, 26.5),
        return_hour=np.clip(rng.normal(21.6, 0.8, n), 18.5, 23.4),
        return_sd_h=np.exp(rng.normal(np.log(0.55), 0.4, n)),
    )
    home_canteen = rng.integers(0, 8, n)
    pop = Population(
        student_id=student_id, college=college, major=major, class_idx=class_idx, class_no=class_no,
        degree=degree, enrollment_year=ey, male=male, resident=resident, building=building, room=room,
        room_label=room_label, counselor=counselor, single_parent_or_orphan=special_sp,
        disability=disability, readmitted=readmitted, active_from=active_from, active_to=active_to,
        mu=mu, vulnerability=vulnerability, ar_sd=ar_sd, exam_sensitivity=exam_sens, lag_days=lag,
        silent_in_trouble=silent, away_type=away_type, sens=sens, eats_out=eats_out,
        card_unused=rng.random(n) < pc.card_unused, local_home=rng.random(n) < pc.local_students,
        leave_compliance=_beta_mean(rng, rc.leave_compliance_mean, 4.0, n),
        p_breakfast=p_b, p_lunch=p_l, p_dinner=p_d,
        p_together=_beta_mean(rng, rc.eat_together, 4.0, n),
        p_library=_beta_mean(rng, rc.library_mean, 1.6, n),
        net_sessions=np.exp(rng.normal(np.log(rc.network_sessions_mean), 0.4, n)),
        night_owl=_beta_mean(rng, 0.25, 2.0, n),
        p_midday_return=_beta_mean(rng, 0.35, 3.0, n),
        p_benign_out=rc.benign_night_out * np.exp(rng.normal(0, 1.0, n)),
        family_income=income, hardship=hardship, applied_for_aid=applied, price_level=price_level,
        offcard_monthly=offcard, ability=np.clip(rng.normal(78, 7, n), 45, 97),
        defensive=rng.random(n) < 0.2, home_canteen=home_canteen,
        n_buildings=next_b, **hours,
    )
    return pop


def chunk_bounds(pop: Population, chunk_students: int) -> list[tuple[int, int]]:
    """Cut the class-ordered roster into chunks of whole classes of about ``chunk_students``."""
    bounds = []
    start = 0
    cls = pop.class_idx
    change = np.flatnonzero(np.diff(cls)) + 1  # first index of each new class
    for cut in list(change) + [pop.n]:
        if cut - start >= chunk_students or cut == pop.n:
            bounds.append((start, int(cut)))
            start = int(cut)
    return [b for b in bounds if b[1] > b[0]]


def students_frame(pop: Population, cfg: SimConfig, registered: np.ndarray) -> pd.DataFrame:
    """The contract ``students`` table (raw student numbers)."""
    pc = cfg.population
    majors = [f"{COLLEGES[c]}-M{m % pc.majors_per_college + 1}" for c, m in zip(pop.college, pop.major, strict=True)]
    cls_label = [f"{COLLEGES[c]}{y}-{k:02d}" for c, y, k in zip(pop.college, pop.enrollment_year, pop.class_no,
                                                                 strict=True)]
    bld = np.where(pop.building >= 0, pop.building + 1, 0)
    return pd.DataFrame({
        "student_id": pop.student_id,
        "college": np.array(COLLEGES, dtype=object)[pop.college],
        "major": np.array(majors, dtype=object),
        "class_id": np.array(cls_label, dtype=object),
        "degree_level": np.array(DEGREES, dtype=object)[pop.degree],
        "enrollment_year": pop.enrollment_year.astype(np.int64),
        "gender": np.where(pop.male, "M", "F").astype(object),
        "dorm_building": np.array([f"B{b:02d}" if b > 0 else None for b in bld], dtype=object),
        "dorm_room": pop.room_label,
        "counselor_id": np.array([f"T{c:04d}" for c in pop.counselor], dtype=object),
        "econ_hardship": registered.astype(bool),
        "single_parent_or_orphan": pop.single_parent_or_orphan.astype(bool),
        "disability": pop.disability.astype(bool),
        "readmitted": pop.readmitted.astype(bool),
    })


def building_names(n_buildings: int) -> list[str]:
    return [f"B{b + 1:02d}" for b in range(n_buildings)]


def truth_population_frame(pop: Population) -> pd.DataFrame:
    """Hidden per-student traits for ``truth/population.parquet``."""
    df = pd.DataFrame({
        "student_id": pop.student_id,
        "trait_wellbeing": pop.mu, "vulnerability": pop.vulnerability,
        "silent_in_trouble": pop.silent_in_trouble, "away_type": pop.away_type,
        "eats_out": pop.eats_out, "card_unused": pop.card_unused, "local_home": pop.local_home,
        "leave_compliance": pop.leave_compliance, "lag_days": pop.lag_days,
        "defensive_census": pop.defensive, "active_from_day": pop.active_from,
        "active_to_day": pop.active_to, "meal_group": pop.room,
        "offcard_monthly_cny": pop.offcard_monthly,
    })
    for k, ch in enumerate(CHANNELS):
        df[f"sensitivity_{ch}"] = pop.sens[:, k]
    return df
