"""The series shipped with statsmodels, the cutting of a series, and the forecasters of Chapter 11."""

import numpy as np
import pytest
import torch

from lstm_course.data import series
from lstm_course.tasks import forecasting as fc


def test_the_three_series_load_without_gaps_and_have_a_source():
    lengths = {"co2": 526, "sunspots": 309, "nile": 100}
    for name, n in lengths.items():
        y = series.load_series(name)
        assert len(y) == n and not y.isna().any(), name
        assert "public domain" in series.SOURCES[name]
    assert series.load_series("co2").index.freqstr == "MS"
    with pytest.raises(KeyError):
        series.load_series("airline")


def test_time_split_keeps_the_final_stretch_for_testing():
    train, test = series.time_split(np.arange(10), 3)
    assert train.tolist() == list(range(7)) and test.tolist() == [7, 8, 9]
    with pytest.raises(ValueError):
        series.time_split(np.arange(10), 10)


def test_scaler_is_fitted_on_what_it_is_given_and_inverts():
    train, test = np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0])
    scaler = series.Scaler.fit(train)
    assert scaler.mean == 2.0 and scaler.std == pytest.approx(np.std(train))
    np.testing.assert_allclose(scaler.inverse(scaler.transform(test)), test)


def test_make_windows_pairs_each_window_with_the_values_right_after_it():
    X, Y = series.make_windows(np.arange(8.0), 3, 2)
    assert X.shape == (4, 3) and Y.shape == (4, 2)
    assert X[0].tolist() == [0, 1, 2] and Y[0].tolist() == [3, 4]
    assert X[-1].tolist() == [3, 4, 5] and Y[-1].tolist() == [6, 7]
    with pytest.raises(ValueError):
        series.make_windows(np.arange(4.0), 3, 2)


def test_mase_of_the_seasonal_naive_forecast_on_its_own_training_part_is_one():
    train = np.random.default_rng(0).normal(size=60).cumsum()
    assert fc.mase(train[:-12], train[12:], train, 12) == pytest.approx(1.0)
    assert fc.mase_scale(train, 1) == pytest.approx(np.mean(np.abs(np.diff(train))))


def test_metrics():
    pred, truth = np.array([1.0, 2.0, 5.0]), np.array([1.0, 4.0, 4.0])
    assert fc.mae(pred, truth) == pytest.approx(1.0)
    assert fc.rmse(pred, truth) == pytest.approx(np.sqrt(5 / 3))


def test_baselines_repeat_the_last_value_and_the_last_season():
    values = np.arange(30.0)
    assert fc.naive_forecasts(values, [20], 3).tolist() == [[19, 19, 19]]
    # m = 4: from origin 20, h = 0..5 -> values 16, 17, 18, 19, 16, 17
    assert fc.seasonal_naive_forecasts(values, [20], 6, 4).tolist() == [[16, 17, 18, 19, 16, 17]]
    assert fc.truth_at(values, [20, 25], 2).tolist() == [[20, 21], [25, 26]]


def test_recursive_forecast_slides_the_window_and_leaves_the_input_alone():
    windows = np.array([[1.0, 2.0, 3.0]])
    before = windows.copy()
    out = fc.recursive_forecast(lambda w: w.sum(axis=1), windows, 3)
    assert out.tolist() == [[6.0, 11.0, 20.0]]  # 1+2+3, 2+3+6, 3+6+11
    np.testing.assert_array_equal(windows, before)


def test_true_changes_give_back_the_true_values():
    values = np.array([5.0, 6.0, 8.0, 7.0, 9.0, 12.0, 11.0])
    scaler = series.Scaler.fit(np.diff(values))
    origins, window, horizon = [3, 4], 2, 3
    windows = fc.change_windows(values, origins, window, scaler)
    assert scaler.inverse(windows[0]).tolist() == [1.0, 2.0]  # the changes before values[2]
    future = scaler.transform(np.stack([np.diff(values)[o - 1:o - 1 + horizon] for o in origins]))
    np.testing.assert_allclose(fc.changes_to_values(values, origins, future, scaler),
                               fc.truth_at(values, origins, horizon))


def test_sarima_forecasts_use_only_the_past_of_each_origin():
    rng = np.random.default_rng(1)
    values = np.zeros(120)
    for t in range(1, 120):
        values[t] = 0.7 * values[t - 1] + rng.normal()
    fitted = fc.fit_sarima(values[:100], order=(1, 0, 0), seasonal_order=(0, 0, 0, 0))
    got = fc.sarima_forecasts(fitted, values, [100, 105], 5)
    for row, origin in zip(got, [100, 105], strict=True):
        np.testing.assert_allclose(row, fitted.apply(values[:origin]).forecast(5), rtol=1e-6)


def test_window_lstm_trains_and_forecasts_the_horizon():
    torch.manual_seed(0)
    z = np.sin(np.arange(200) * 2 * np.pi / 12)
    X, Y = series.make_windows(z, 12, 3)
    model = fc.WindowLSTM(8, 3)
    assert fc.predict(model, X[:5]).shape == (5, 3)
    losses = fc.train_forecaster(model, X, Y, 60, lr=2e-2, desc="test")
    assert losses[-1] < 0.5 * losses[0]
