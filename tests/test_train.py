import pytest
import torch
from torch import nn

from cnnlab.train import History, evaluate_classification, evaluate_segmentation, fit, predict


def _separable_segmentation(n=64):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 1, 8, 8, generator=g)
    masks = (images[:, 0] > 0.5).long()
    return images, masks


def test_fit_learns_a_pixelwise_rule_and_logs_history():
    data = _separable_segmentation()
    model = nn.Conv2d(1, 2, 1)
    history = fit(
        model,
        data,
        steps=150,
        batch_size=16,
        lr=0.05,
        val_data=data,
        evaluate=lambda m, d: evaluate_segmentation(m, d, num_classes=2),
        eval_every=50,
        device="cpu",
        progress=False,
    )
    steps, mious = history.series("miou")
    assert steps == [50, 100, 150]
    assert mious[-1] > 0.95
    losses = history.series("loss")[1]
    assert len(losses) == 150 and losses[-1] < losses[0]
    assert not model.training


def test_fit_respects_time_limit():
    data = _separable_segmentation()
    history = fit(nn.Conv2d(1, 2, 1), data, steps=10_000, batch_size=8, time_limit=0.0, device="cpu", progress=False)
    assert len(history.series("loss")[1]) == 1


def test_fit_is_reproducible_with_a_seed():
    data = _separable_segmentation()
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = nn.Conv2d(1, 2, 1)
        fit(model, data, steps=20, batch_size=8, device="cpu", progress=False, seed=5)
        runs.append(model.weight.detach().clone())
    assert torch.equal(runs[0], runs[1])


def test_too_little_data_for_a_batch():
    images, masks = _separable_segmentation(4)
    with pytest.raises(ValueError, match="fewer items than one batch of 8"):
        fit(nn.Conv2d(1, 2, 1), (images, masks), steps=1, batch_size=8, device="cpu", progress=False)


def test_predict_restores_mode_and_evaluate_classification():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2), nn.Dropout(0.5))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
        model[1].bias.zero_()
    model.train()
    x = torch.eye(4)[:2].reshape(2, 1, 2, 2)
    out = predict(model, x, batch_size=1, device="cpu")
    assert model.training and out.shape == (2, 2)
    assert evaluate_classification(model, (x, torch.tensor([0, 1])))["accuracy"] == 1.0


def test_history_last_missing_metric():
    with pytest.raises(KeyError, match="recorded"):
        History().last("miou")
