"""PyTorch sequence model on the last days of the daily behaviour table.

Input per snapshot: ``(days, channels)`` values and a ``(days,)`` observed-day mask, sliced
lazily by :class:`riskmodel.datasets.SequenceBatchDataset`. Values go through a signed
``log1p`` and per-channel standardisation (fitted on training snapshots, observed days only);
unknown values and unobserved days become 0, and the mask is fed as an extra channel, so the
encoder can tell "no data" from "average day". Two encoders:

* ``gru``: a stride-7 convolution turns the days into weeks (12 steps for 84 days), then a
  one-layer GRU; the representation is the last state plus the mask-weighted mean of the
  outputs (a daily-step GRU was 6x slower on 2 CPU cores for no gain we could measure);
* ``tcn``: three causal dilated 1-D convolutions (dilation 1, 2, 4), pooled the same way.

``encoder="auto"`` trains both and keeps the one with the higher validation AUPRC, recording
both scores and the reason in ``encoder_choice_``. Training is on the CPU with
``torch.set_num_threads(num_threads)``, deterministic for a ``seed``, with early stopping on
validation AUPRC. Negatives may be subsampled per epoch (``neg_sample_rate``) to save time;
this shifts the raw score, which the validation-fitted calibrator corrects.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from riskmodel.models.base import CrisisModelMixin
from riskmodel.models.calibration import Calibrator


class _Encoder(nn.Module):
    def __init__(self, kind: str, n_in: int, hidden: int):
        super().__init__()
        self.kind = kind
        if kind == "gru":
            self.week = nn.Conv1d(n_in, hidden, kernel_size=7, stride=7)
            self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        elif kind == "tcn":
            self.convs = nn.ModuleList([nn.Conv1d(n_in if i == 0 else hidden, hidden, 3, dilation=d)
                                        for i, d in enumerate((1, 2, 4))])
        else:
            raise ValueError(f"SequenceCrisisModel.encoder must be 'gru', 'tcn' or 'auto', got {kind!r}")
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inp = torch.cat([x * mask.unsqueeze(-1), mask.unsqueeze(-1)], dim=-1)
        if self.kind == "gru":
            pad = (-inp.shape[1]) % 7  # whole weeks ending on the day before as-of
            h = nn.functional.pad(inp.transpose(1, 2), (pad, 0))
            out, _ = self.rnn(torch.relu(self.week(h)).transpose(1, 2))
            mask = nn.functional.pad(mask, (pad, 0)).unfold(1, 7, 7).amax(-1)
        else:
            h = inp.transpose(1, 2)
            for conv in self.convs:
                assert isinstance(conv, nn.Conv1d)  # ModuleList iterates as plain Modules
                pad = conv.dilation[0] * (conv.kernel_size[0] - 1)
                h = torch.relu(conv(nn.functional.pad(h, (pad, 0))))
            out = h.transpose(1, 2)
        w = mask.unsqueeze(-1)
        mean = (out * w).sum(1) / w.sum(1).clamp(min=1.0)
        return self.head(torch.cat([out[:, -1], mean], dim=-1)).squeeze(-1)


class SequenceCrisisModel(CrisisModelMixin):
    """GRU or temporal-convolution classifier on daily histories (see module doc).

    ``fit(train, valid)`` takes two :class:`~riskmodel.datasets.SequenceBatchDataset`;
    ``predict_proba`` takes a dataset or a tuple ``(values, mask)`` of arrays.
    """

    family = "sequence"

    def __init__(self, encoder: str = "auto", hidden: int = 32, epochs: int = 8, batch_size: int = 256,
                 lr: float = 2e-3, weight_decay: float = 1e-4, patience: int = 2, neg_sample_rate: float = 1.0,
                 calibration: str = "isotonic", seed: int = 0, num_threads: int = 2,
                 max_valid_rows: int | None = None):
        self.encoder = encoder
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.neg_sample_rate = neg_sample_rate
        self.calibration = calibration
        self.seed = seed
        self.num_threads = num_threads
        self.max_valid_rows = max_valid_rows

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in ("encoder", "hidden", "epochs", "batch_size", "lr", "weight_decay",
                                              "patience", "neg_sample_rate", "calibration", "seed",
                                              "num_threads", "max_valid_rows")}

    # -- input preparation -------------------------------------------------------------
    def _prep(self, x: np.ndarray, m: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        z = np.sign(x) * np.log1p(np.abs(x))
        z = (z - self.channel_mean_) / self.channel_scale_
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        return torch.from_numpy(z), torch.from_numpy(m.astype(np.float32))

    def _fit_scaler(self, ds, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
        idx = rng.choice(len(ds), size=min(len(ds), 2000), replace=False)
        x, m, _ = ds.batch(np.sort(idx))
        z = np.sign(x) * np.log1p(np.abs(x))
        z = z[m.astype(bool)]
        with np.errstate(all="ignore"):
            mu = np.nanmean(z, axis=0) if len(z) else np.zeros(x.shape[-1])
            sd = np.nanstd(z, axis=0) if len(z) else np.ones(x.shape[-1])
        self.channel_mean_ = np.nan_to_num(mu, nan=0.0).astype(np.float32)
        self.channel_scale_ = np.where(np.nan_to_num(sd, nan=0.0) > 1e-6, np.nan_to_num(sd, nan=1.0), 1.0
                                       ).astype(np.float32)

    def _net_scores(self, net: _Encoder, ds) -> np.ndarray:  # type: ignore[no-untyped-def]
        net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(ds), 1024):
                idx = np.arange(start, min(start + 1024, len(ds)))
                x, m, _ = ds.batch(idx)
                xt, mt = self._prep(x, m)
                out.append(net(xt, mt).numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _train_one(self, kind: str, train, valid) -> tuple[_Encoder, float, int]:  # type: ignore[no-untyped-def]
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = _Encoder(kind, len(self.channel_mean_) + 1, self.hidden)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()
        pos = np.flatnonzero(train.y > 0.5)
        neg = np.flatnonzero(train.y <= 0.5)
        best, best_state, best_epoch, bad = -np.inf, None, 0, 0
        for epoch in range(self.epochs):
            net.train()
            take = neg if self.neg_sample_rate >= 1 else rng.choice(neg, size=max(1, int(len(neg) * self.neg_sample_rate)),
                                                                    replace=False)
            order = rng.permutation(np.concatenate([pos, take]))
            for start in range(0, len(order), self.batch_size):
                idx = np.sort(order[start:start + self.batch_size])
                x, m, y = train.batch(idx)
                xt, mt = self._prep(x, m)
                opt.zero_grad()
                loss = loss_fn(net(xt, mt), torch.from_numpy(y))
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
            s = self._net_scores(net, valid)
            ap = float(average_precision_score(valid.y, s)) if valid.y.sum() > 0 else 0.0
            if ap > best + 1e-5:
                best, best_epoch, bad = ap, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        return net, best, best_epoch

    def fit(self, X, y=None, X_valid=None, y_valid=None) -> SequenceCrisisModel:  # type: ignore[no-untyped-def]
        """Train on ``X`` (a SequenceBatchDataset with labels); early-stop and calibrate on ``X_valid``.

        ``y`` / ``y_valid`` override the datasets' labels when given.
        """
        if X_valid is None:
            raise ValueError("SequenceCrisisModel.fit needs a validation dataset (X_valid) for early stopping "
                             "and calibration")
        if y is not None:
            X.y = np.asarray(y, dtype=np.float32)
        if y_valid is not None:
            X_valid.y = np.asarray(y_valid, dtype=np.float32)
        if len(X) != len(X.y):
            raise ValueError(f"Found input variables with inconsistent numbers of samples: {len(X)} vs {len(X.y)}")
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.use_deterministic_algorithms(True)
                rng = np.random.default_rng(self.seed)
                self.feature_names_in_ = np.array(X.store.channels, dtype=object)
                self.sequence_days_ = int(X.store.pad)
                self._fit_scaler(X, rng)
                valid = X_valid
                if self.max_valid_rows and len(valid) > self.max_valid_rows:
                    valid = _subset(X_valid, np.sort(rng.choice(len(valid), self.max_valid_rows, replace=False)))
                kinds = ["gru", "tcn"] if self.encoder == "auto" else [self.encoder]
                results = {k: self._train_one(k, X, valid) for k in kinds}
                self.encoder_scores_ = {k: round(r[1], 5) for k, r in results.items()}
                chosen = max(kinds, key=lambda k: results[k][1])
                net, ap, ep = results[chosen]
                self.encoder_ = chosen
                self.best_epoch_ = ep
                self.encoder_choice_ = (
                    f"{chosen}: validation AUPRC " + ", ".join(f"{k} {v:.4f}" for k, v in self.encoder_scores_.items())
                    + ("; chosen by the higher validation AUPRC" if len(kinds) > 1 else "; fixed by config"))
                self.net_ = net
                self.calibrator_ = Calibrator(self.calibration).fit(self._net_scores(net, X_valid), X_valid.y)
        finally:
            torch.use_deterministic_algorithms(False)
            torch.set_num_threads(prev_threads)
        return self

    def _raw_score(self, X) -> np.ndarray:  # type: ignore[no-untyped-def]
        if isinstance(X, tuple):
            x, m = X
            ds = _ArrayDataset(np.asarray(x, dtype=np.float32), np.asarray(m, dtype=np.float32))
            n_channels = ds.x.shape[-1]
            channels = None
        else:
            ds, n_channels, channels = X, X.store.values.shape[-1], list(X.store.channels)
        if channels is not None and channels != list(self.feature_names_in_):
            raise ValueError(f"SequenceCrisisModel: daily channels differ from those seen at fit "
                             f"({len(channels)} vs {len(self.feature_names_in_)}); build the daily table "
                             "with the same feature config")
        if n_channels != len(self.feature_names_in_):
            raise ValueError(f"SequenceCrisisModel: got {n_channels} channels, fitted on "
                             f"{len(self.feature_names_in_)}")
        return self._net_scores(self.net_, ds)

    def save(self, folder: Path) -> None:
        """Weights as a NumPy ``.npz`` of the state dict (no pickle) plus JSON metadata."""
        self._check_fitted()
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "weights.npz", **{k: v.numpy() for k, v in self.net_.state_dict().items()})
        meta = {"family": self.family, "params": self.get_params(), "encoder_": self.encoder_,
                "encoder_choice": self.encoder_choice_, "encoder_scores": self.encoder_scores_,
                "best_epoch": self.best_epoch_, "sequence_days": self.sequence_days_, "feature_names": list(self.feature_names_in_),
                "channel_mean": self.channel_mean_.tolist(), "channel_scale": self.channel_scale_.tolist(),
                "calibrator": self.calibrator_.to_dict()}
        (folder / "model.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SequenceCrisisModel:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        m = cls(**meta["params"])
        m.feature_names_in_ = np.array(meta["feature_names"], dtype=object)
        m.channel_mean_ = np.asarray(meta["channel_mean"], dtype=np.float32)
        m.channel_scale_ = np.asarray(meta["channel_scale"], dtype=np.float32)
        m.encoder_, m.encoder_choice_ = meta["encoder_"], meta["encoder_choice"]
        m.encoder_scores_, m.best_epoch_ = meta["encoder_scores"], meta["best_epoch"]
        m.sequence_days_ = int(meta["sequence_days"])
        net = _Encoder(m.encoder_, len(m.channel_mean_) + 1, int(meta["params"]["hidden"]))
        with np.load(folder / "weights.npz", allow_pickle=False) as w:
            net.load_state_dict({k: torch.from_numpy(w[k].copy()) for k in w.files})
        m.net_ = net
        m.calibrator_ = Calibrator.from_dict(meta["calibrator"])
        return m


class _ArrayDataset:
    """Already-sliced arrays, for scoring outside the training store (e.g. the pyfunc)."""

    def __init__(self, x: np.ndarray, m: np.ndarray):
        self.x, self.m = x, m
        self.y = np.zeros(len(x), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.x[idx], self.m[idx], self.y[idx]


class _Subset:
    def __init__(self, ds, idx: np.ndarray):  # type: ignore[no-untyped-def]
        self.ds, self.idx = ds, idx
        self.y = ds.y[idx]
        self.store = ds.store

    def __len__(self) -> int:
        return len(self.idx)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, m, _ = self.ds.batch(self.idx[idx])
        return x, m, self.y[idx]


def _subset(ds, idx: np.ndarray) -> _Subset:  # type: ignore[no-untyped-def]
    return _Subset(ds, idx)


def long_frame_from_arrays(x: np.ndarray, m: np.ndarray, channels: list[str]) -> pd.DataFrame:
    """Arrays ``(n, days, channels)`` and ``(n, days)`` to the pyfunc's long input frame.

    Columns: ``snapshot`` (0..n-1), ``lag`` (days before as-of, 1 = the day before),
    ``day_observed`` (bool), then one column per channel.
    """
    n, days, _ = x.shape
    lag = np.tile(np.arange(days, 0, -1), n)
    frame = pd.DataFrame({"snapshot": np.repeat(np.arange(n), days).astype(np.int64), "lag": lag.astype(np.int64),
                          "day_observed": m.reshape(-1).astype(bool)})
    vals = pd.DataFrame(x.reshape(n * days, -1).astype(np.float64), columns=channels)
    return pd.concat([frame, vals], axis=1)


def arrays_from_long_frame(frame: pd.DataFrame, channels: list[str], days: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`long_frame_from_arrays`; missing (snapshot, lag) rows are unobserved days."""
    missing = [c for c in ["snapshot", "lag", "day_observed", *channels] if c not in frame.columns]
    if missing:
        raise ValueError(f"sequence model input lacks column(s) {missing[:5]}")
    snaps, si = np.unique(frame["snapshot"].to_numpy(), return_inverse=True)
    lag = frame["lag"].to_numpy().astype(np.int64)
    if ((lag < 1) | (lag > days)).any():
        raise ValueError(f"sequence model input: column 'lag' must be within 1..{days}")
    di = days - lag
    x = np.full((len(snaps), days, len(channels)), np.nan, dtype=np.float32)
    m = np.zeros((len(snaps), days), dtype=np.float32)
    x[si, di] = frame[channels].to_numpy(np.float32)
    m[si, di] = frame["day_observed"].to_numpy().astype(np.float32)
    return snaps, x, m
