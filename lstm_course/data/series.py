"""Real time series shipped inside statsmodels (nothing is downloaded), and how to cut them.

statsmodels is BSD-3 licensed; each data set's own licence is in ``SOURCES`` (copied from its
``COPYRIGHT`` attribute): all three are public domain.

A forecaster is trained on the past and tested on the future, so the cutting is by time:
:func:`time_split` keeps the final stretch for testing, :class:`Scaler` is fitted on the
training part only, and :func:`make_windows` turns a series into (input window, next values)
pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SOURCES = {
    "co2": "Mauna Loa weekly CO2 (ppmv), C. D. Keeling and T. P. Whorf, Scripps Institution of "
           "Oceanography, via CDIAC; statsmodels.datasets.co2, public domain",
    "sunspots": "Yearly sunspot numbers 1700-2008, NOAA National Geophysical Data Center; "
                "statsmodels.datasets.sunspots, public domain",
    "nile": "Yearly volume of the Nile at Aswan 1871-1970 (10^8 m^3), Cobb (1978); "
            "statsmodels.datasets.nile, public domain",
}


def co2_monthly() -> pd.Series:
    """Mauna Loa CO2, March 1958 - December 2001: weekly readings averaged per month (526 months).

    Five months have no reading at all (1958-06, 1958-10, 1964-02 to 1964-04); they are filled
    by linear interpolation in time.
    """
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate("time")
    monthly.name = "co2 (ppmv)"
    return monthly


def sunspots_yearly() -> pd.Series:
    """Yearly mean sunspot number, 1700-2008 (309 years), indexed by year."""
    from statsmodels.datasets import sunspots

    data = sunspots.load_pandas().data
    return pd.Series(data["SUNACTIVITY"].to_numpy(), index=data["YEAR"].astype(int), name="sunspots")


def nile_yearly() -> pd.Series:
    """Yearly flow of the Nile at Aswan, 1871-1970 (100 years, 10^8 m^3), indexed by year."""
    from statsmodels.datasets import nile

    data = nile.load_pandas().data
    return pd.Series(data["volume"].to_numpy(dtype=float), index=data["year"].astype(int), name="nile")


def load_series(name: str) -> pd.Series:
    """One of ``"co2"`` (monthly), ``"sunspots"`` (yearly), ``"nile"`` (yearly)."""
    loaders = {"co2": co2_monthly, "sunspots": sunspots_yearly, "nile": nile_yearly}
    if name not in loaders:
        raise KeyError(f"unknown series {name!r}; choose one of {sorted(loaders)}")
    return loaders[name]()


def time_split(values: np.ndarray, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test): everything but the final ``n_test`` values, and those final values."""
    if not 0 < n_test < len(values):
        raise ValueError(f"n_test must be between 1 and {len(values) - 1}, got {n_test}")
    return values[:-n_test], values[-n_test:]


@dataclass(frozen=True)
class Scaler:
    """Standardisation with a mean and standard deviation fitted on the training part only."""

    mean: float
    std: float

    @classmethod
    def fit(cls, train: np.ndarray) -> Scaler:
        return cls(float(np.mean(train)), float(np.std(train)))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.std + self.mean


def make_windows(values: np.ndarray, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, target) pair of a series: ``X[i] = values[i : i + window]`` and
    ``Y[i] = values[i + window : i + window + horizon]``, the ``horizon`` values right after it.

    Returns X: (n, window) and Y: (n, horizon) with n = len(values) - window - horizon + 1.
    """
    n = len(values) - window - horizon + 1
    if n < 1:
        raise ValueError(f"a series of {len(values)} values has no window of {window} + {horizon}")
    starts = np.arange(n)[:, None]
    return values[starts + np.arange(window)], values[starts + window + np.arange(horizon)]
