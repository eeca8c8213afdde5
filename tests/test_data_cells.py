"""Tests of the Cells dataset and the U-Net weight map."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnnlab.data.cells import Cells, unet_weight_map


def _touching_pairs(inst: np.ndarray, connectivity: int) -> set[tuple[int, int]]:
    """Pairs of different cells that are 4- or 8-neighbours somewhere (plain loops, independent of the code)."""
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    h, w = inst.shape
    pairs = set()
    for y in range(h):
        for x in range(w):
            a = inst[y, x]
            if a == 0:
                continue
            for dy, dx in offsets:
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and inst[yy, xx] not in (0, a):
                    pairs.add((min(a, inst[yy, xx]), max(a, inst[yy, xx])))
    return pairs


def _separating(inst: np.ndarray) -> np.ndarray:
    """Cell pixels with a 4-neighbour in a different cell (plain loops)."""
    h, w = inst.shape
    out = np.zeros((h, w), dtype=bool)
    for y in range(h):
        for x in range(w):
            a = inst[y, x]
            if a == 0:
                continue
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= yy < h and 0 <= xx < w and inst[yy, xx] not in (0, a):
                    out[y, x] = True
    return out


def test_item_contract():
    ds = Cells("train", length=5, size=64)
    assert len(ds) == 5 and ds.num_classes == 2 and ds.classes == ("background", "cell")
    for i in range(len(ds)):
        item = ds[i]
        assert len(item) == 2
        image, mask = item
        assert image.dtype == torch.float32 and image.shape == (1, 64, 64)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert mask.dtype == torch.int64 and mask.shape == (64, 64)
        assert set(mask.unique().tolist()) <= {0, 1}
        inst = ds.instances(i)
        assert inst.dtype == torch.int64 and inst.shape == (64, 64)
        ids = inst.unique().tolist()
        assert ids == list(range(0, len(ids)))  # 0, then cells numbered 1..K without gaps
        assert len(ids) - 1 >= 2
        assert bool(((mask == 1) <= (inst > 0)).all())  # the mask never marks background as cell


def test_sizes_and_cell_counts():
    for size in (32, 96, 256):
        image, mask = Cells("val", length=1, size=size)[0]
        assert image.shape == (1, size, size) and mask.shape == (size, size)
    counts = [int(Cells("train", length=20, size=128).instances(i).max()) for i in range(20)]
    assert 4 <= np.mean(counts) <= 14
    big = [int(Cells("train", length=3, size=256).instances(i).max()) for i in range(3)]
    assert np.mean(big) > 2 * np.mean(counts)  # more cells on a larger area


def test_deterministic_and_splits_differ():
    a, b = Cells("train", length=3, size=64), Cells("train", length=3, size=64)
    for i in range(3):
        for x, y in zip(a[i], b[i]):
            assert torch.equal(x, y)
        assert torch.equal(a[i][0], a[i][0])  # the same index read twice
        assert torch.equal(a.instances(i), b.instances(i))
    val = Cells("val", length=3, size=64)
    assert not torch.equal(a[0][0], val[0][0])
    assert not torch.equal(Cells(None, length=1, seed=1, size=64)[0][0], Cells(None, length=1, seed=2, size=64)[0][0])
    cached = Cells("train", length=3, size=64, cache=True)
    assert torch.equal(cached[2][1], a[2][1]) and torch.equal(cached[2][1], cached[2][1])


def test_touching_cells_are_separated_in_the_mask():
    ds = Cells("train", length=10, size=64)
    scenes_with_touching = 0
    for i in range(len(ds)):
        inst = ds.instances(i).numpy()
        mask = ds[i][1].numpy()
        if _touching_pairs(inst, 8):
            scenes_with_touching += 1
        sep = _separating(inst)
        expected = (inst > 0) & ~sep
        assert np.array_equal(mask == 1, expected)
        assert not mask[sep].any()
        # after the separation, no two different cells are 4-neighbours any more
        assert not _touching_pairs(inst * mask, 4)
    assert scenes_with_touching >= 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="Cells.*1000"):
        Cells("train", size=1000)
    with pytest.raises(ValueError, match="Cells.*12"):
        Cells("train", size=12)
    with pytest.raises(ValueError, match="sigma"):
        Cells("train", sigma=0)
    with pytest.raises(ValueError, match="split"):
        Cells("training")


def _brute_force_weights(inst: np.ndarray, w0: float, sigma: float) -> np.ndarray:
    h, w = inst.shape
    cells = {k: [(y, x) for y in range(h) for x in range(w) if inst[y, x] == k] for k in set(inst.flat) - {0}}
    n = h * w
    n_fg = sum(len(p) for p in cells.values())
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            if inst[y, x] > 0:
                out[y, x] = n / (2 * n_fg)
                continue
            out[y, x] = n / (2 * (n - n_fg))
            dists = sorted(min(math.hypot(y - py, x - px) for py, px in pts) for pts in cells.values())
            if len(dists) >= 2:
                out[y, x] += w0 * math.exp(-((dists[0] + dists[1]) ** 2) / (2 * sigma**2))
    return out


def _hand_made() -> np.ndarray:
    inst = np.zeros((12, 12), dtype=np.int32)
    inst[2:6, 1:4] = 1  # two cells with a one-pixel gap at column 4
    inst[2:6, 5:8] = 2
    inst[9:11, 9:11] = 3  # a small cell far from the others
    return inst


def test_unet_weight_map_matches_brute_force():
    inst = _hand_made()
    for w0, sigma in ((10.0, 5.0), (5.0, 2.0)):
        got = unet_weight_map(inst, w0=w0, sigma=sigma)
        assert got.dtype == np.float32 and got.shape == inst.shape
        np.testing.assert_allclose(got, _brute_force_weights(inst, w0, sigma), rtol=1e-5, atol=1e-5)


def test_unet_weight_map_properties():
    inst = _hand_made()
    w = unet_weight_map(inst, w0=10.0, sigma=2.0).astype(np.float64)
    fg = inst > 0
    n_fg, n = int(fg.sum()), inst.size
    # class balancing: no border term inside cells, and equal total weight for the two classes
    np.testing.assert_allclose(w[fg], n / (2 * n_fg), rtol=1e-6)
    wc_bg = n / (2 * (n - n_fg))
    assert math.isclose(wc_bg * (n - n_fg), float(w[fg].sum()), rel_tol=1e-6)
    border = w - np.where(fg, w, wc_bg)
    # the border term peaks in the gap between the two close cells: d1 = d2 = 1 there
    gap = border[2:6, 4]
    np.testing.assert_allclose(gap, 10.0 * math.exp(-4 / 8), rtol=1e-5)
    assert float(border[~fg].max()) == pytest.approx(float(gap.max()))
    assert float(border[0, 11]) < 1e-3  # far from the pair of cells
    assert float(border.min()) >= -1e-6  # (float32 rounding)


def test_unet_weight_map_edge_cases():
    one = np.zeros((8, 8), dtype=np.int64)
    one[2:4, 2:4] = 1
    w = unet_weight_map(one)
    np.testing.assert_allclose(w[one > 0], 64 / 8)  # fewer than two cells: no border term
    np.testing.assert_allclose(w[one == 0], 64 / 120)
    empty = unet_weight_map(np.zeros((5, 5), dtype=np.int32))
    np.testing.assert_allclose(empty, 0.5)  # the absent class has no term
    with pytest.raises(ValueError, match="2-D"):
        unet_weight_map(np.zeros((2, 5, 5), dtype=np.int32))


def test_with_weights_items():
    plain = Cells("val", length=2, size=64)
    ds = Cells("val", length=2, size=64, with_weights=True, w0=10.0, sigma=5.0)
    for i in range(2):
        image, mask, weight = ds[i]
        assert torch.equal(image, plain[i][0]) and torch.equal(mask, plain[i][1])
        assert weight.dtype == torch.float32 and weight.shape == (64, 64)
        separated = (ds.instances(i) * mask).numpy()
        np.testing.assert_allclose(weight.numpy(), unet_weight_map(separated, 10.0, 5.0))
        sep = _separating(ds.instances(i).numpy())
        if sep.any():  # separating pixels are background and get the large border weight
            assert float(weight[torch.from_numpy(sep)].mean()) > float(weight[mask == 1].mean())
    images, masks, weights = ds.as_tensors()
    assert images.shape == (2, 1, 64, 64) and masks.shape == weights.shape == (2, 64, 64)


def test_transform_receives_the_whole_item():
    seen = []

    def transform(*fields):
        seen.append(len(fields))
        return fields

    Cells("val", length=1, size=32, transform=transform)[0]
    Cells("val", length=1, size=32, transform=transform, with_weights=True)[0]
    assert seen == [2, 3]
