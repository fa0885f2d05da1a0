"""Forecasting a real series: baselines, a classical SARIMA model, an LSTM, and their scores.

Every forecaster answers the same question. At an *origin* ``o`` it may read ``values[:o]``
(the past) and must forecast ``values[o : o + horizon]``; given several origins it returns an
array of shape (len(origins), horizon). The scores compare such arrays with the truth.

The LSTM reads a window of past month-to-month *changes*, standardised with a
:class:`~lstm_course.data.series.Scaler` fitted on the training part, and forecasts the next
change (one step, fed back for longer horizons: *recursive*) or the next ``horizon`` changes at
once (*direct*); the changes are summed back onto the last observed value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from lstm_course.data.series import Scaler
from lstm_course.train import fit


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(pred) - np.asarray(truth))))


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(truth)) ** 2)))


def mase_scale(train: np.ndarray, m: int = 1) -> float:
    """The in-sample MAE of the (seasonal) naive forecast on the training part: mean |y_t - y_{t-m}|."""
    train = np.asarray(train, dtype=float)
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def mase(pred: np.ndarray, truth: np.ndarray, train: np.ndarray, m: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler, 2006): the MAE divided by
    :func:`mase_scale` of the training part. Below 1: better than the in-sample naive forecast."""
    return mae(pred, truth) / mase_scale(train, m)


def scores(pred: np.ndarray, truth: np.ndarray, train: np.ndarray, m: int) -> dict[str, float]:
    """MAE, RMSE and MASE (scaled by the seasonal naive forecast of period m) of one forecaster."""
    return {"MAE": mae(pred, truth), "RMSE": rmse(pred, truth), "MASE": mase(pred, truth, train, m)}


def truth_at(values: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
    """The values each forecast is compared with: (len(origins), horizon)."""
    return np.stack([values[o:o + horizon] for o in origins])


def naive_forecasts(values: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
    """The last observed value, repeated: (len(origins), horizon)."""
    return np.stack([np.repeat(values[o - 1], horizon) for o in origins]).astype(float)


def seasonal_naive_forecasts(values: np.ndarray, origins: Sequence[int], horizon: int, m: int) -> np.ndarray:
    """The value one season (m steps) earlier, from the last observed season:
    ``values[o + h - m * (h // m + 1)]`` for h = 0 .. horizon - 1."""
    h = np.arange(horizon)
    return np.stack([values[o + h - m * (h // m + 1)] for o in origins]).astype(float)


def fit_sarima(train: np.ndarray, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)):
    """A SARIMA model fitted (maximum likelihood) on the training part; the default is Box and
    Jenkins's "airline" model."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    return SARIMAX(np.asarray(train, dtype=float), order=order, seasonal_order=seasonal_order).fit(disp=False)


def sarima_forecasts(fitted, values: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
    """Forecasts of a fitted SARIMA from every origin, its parameters kept fixed: the model is run
    over the whole series and each forecast uses only the values before its origin
    (``dynamic=True``)."""
    full = fitted.apply(np.asarray(values, dtype=float))
    return np.stack([full.predict(start=o, end=o + horizon - 1, dynamic=True) for o in origins])


class WindowLSTM(nn.Module):
    """An LSTM that reads a window of a series and forecasts the next ``horizon`` values.

    x: (batch, window) -> (batch, horizon), read from the last hidden state.
    """

    def __init__(self, hidden_size: int, horizon: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.unsqueeze(-1))
        return self.head(out[:, -1])


def train_forecaster(model: nn.Module, X: np.ndarray, Y: np.ndarray, steps: int, *, lr: float = 1e-2,
                     desc: str = "training") -> list[float]:
    """Full-batch Adam on the mean squared error of every (window, targets) pair; the losses."""
    device = next(model.parameters()).device
    X = torch.as_tensor(X, dtype=torch.float32, device=device)
    Y = torch.as_tensor(Y, dtype=torch.float32, device=device)
    return fit(lambda: nn.functional.mse_loss(model(X), Y), model.parameters(), steps, lr=lr, desc=desc)


@torch.no_grad()
def predict(model: nn.Module, windows: np.ndarray) -> np.ndarray:
    """The model's outputs for a batch of windows, as a NumPy array: (batch, horizon)."""
    device = next(model.parameters()).device
    return model(torch.as_tensor(windows, dtype=torch.float32, device=device)).cpu().numpy().astype(float)


def recursive_forecast(predict_next: Callable[[np.ndarray], np.ndarray], windows: np.ndarray,
                       horizon: int) -> np.ndarray:
    """Multi-step forecasts from a one-step forecaster, each forecast fed back as an input.

    ``predict_next`` maps windows (batch, window) to the next values (batch,). The window slides
    by one step per forecast: its oldest value drops out and the new forecast comes in.
    Returns (batch, horizon).
    """
    windows = np.array(windows, dtype=float)
    out = []
    for _ in range(horizon):
        nxt = np.asarray(predict_next(windows), dtype=float).reshape(len(windows))
        out.append(nxt)
        windows = np.concatenate([windows[:, 1:], nxt[:, None]], axis=1)
    return np.stack(out, axis=1)


def change_windows(values: np.ndarray, origins: Sequence[int], window: int, scaler: Scaler) -> np.ndarray:
    """What the LSTM reads at each origin o: the last ``window`` changes before it,
    ``values[t + 1] - values[t]`` for t = o - 1 - window .. o - 2, scaled. (len(origins), window)."""
    changes = scaler.transform(np.diff(np.asarray(values, dtype=float)))
    return np.stack([changes[o - 1 - window:o - 1] for o in origins])


def changes_to_values(values: np.ndarray, origins: Sequence[int], scaled_changes: np.ndarray,
                      scaler: Scaler) -> np.ndarray:
    """Forecast values from forecast (scaled) changes: the last observed value plus their running sum."""
    last = np.array([values[o - 1] for o in origins], dtype=float)
    return last[:, None] + np.cumsum(scaler.inverse(scaled_changes), axis=1)


#: One look per forecaster: colour-blind-safe colours (Okabe and Ito), and a line style and a
#: marker each, so the lines stay apart in grey print too.
STYLES = {
    "truth": {"color": "#000000", "linestyle": "-", "linewidth": 2.2},
    "naive": {"color": "#999999", "linestyle": ":", "marker": "v"},
    "seasonal naive": {"color": "#E69F00", "linestyle": "-.", "marker": "x"},
    "SARIMA": {"color": "#0072B2", "linestyle": "--", "marker": "s"},
    "LSTM recursive": {"color": "#D55E00", "linestyle": ":", "marker": "^", "markersize": 8,
                       "markerfacecolor": "none"},
    "LSTM direct": {"color": "#009E73", "linestyle": "-", "marker": "o"},
    "LSTM": {"color": "#009E73", "linestyle": "-", "marker": "o"},
}


def plot_forecasts(dates, truth: np.ndarray, forecasts: dict[str, np.ndarray], *, ax=None, title: str = "",
                   ylabel: str = "CO$_2$ (ppmv)"):
    """The truth and several forecasts of the same dates, one style each (see ``STYLES``)."""
    from lstm_course.teach.plots import _label, new_axes

    if ax is None:
        _, ax = new_axes()
    ax.plot(dates, truth, label="truth", **STYLES["truth"])
    for name, values in forecasts.items():
        ax.plot(dates, values, label=name, **{"markersize": 4, **STYLES.get(name, {})})
    year_axis(ax)
    return _label(ax, "month", ylabel, title)


def year_axis(ax):
    """Date ticks on the x axis at every new year, labelled by the year only."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    return ax


def plot_error_by_horizon(errors: dict[str, np.ndarray], *, ax=None, title: str = "",
                          ylabel: str = "mean absolute error (ppmv)"):
    """Mean absolute error against the forecast horizon h = 1, 2, ..., one line per forecaster."""
    from lstm_course.teach.plots import _label, new_axes

    if ax is None:
        _, ax = new_axes()
    for name, values in errors.items():
        style = {"markersize": 5, **STYLES.get(name, {})}
        ax.plot(np.arange(1, len(values) + 1), values, label=name, **style)
    ax.set_ylim(bottom=0)
    return _label(ax, "horizon h (months ahead)", ylabel, title)
