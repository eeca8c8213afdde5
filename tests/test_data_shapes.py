import subprocess
import sys

import numpy as np
import pytest
import torch

from cnnlab.data import Shapes, ShapesClassification
from cnnlab.data.base import SPLIT_OFFSETS, SPLIT_RANGE
from cnnlab.data.geometry import SHAPE_NAMES, fill_polygon, rasterize, shape_polygon


def test_item_contract_default_size():
    image, mask = Shapes("train", length=4)[0]
    assert image.dtype == torch.float32 and image.shape == (3, 64, 64)
    assert mask.dtype == torch.int64 and mask.shape == (64, 64)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert set(mask.unique().tolist()) <= set(range(len(Shapes.classes)))


@pytest.mark.parametrize("size", [32, 100, 128, 256])
def test_configurable_sizes(size):
    image, mask = Shapes("val", length=2, size=size)[1]
    assert image.shape == (3, size, size) and mask.shape == (size, size)


def test_classes_include_four_shapes_and_a_nonconvex_one():
    assert Shapes.classes[0] == "background"
    assert {"circle", "square", "triangle"} <= set(Shapes.classes)
    assert "star" in Shapes.classes or "cross" in Shapes.classes
    assert Shapes.num_classes == len(Shapes.classes) >= 5


def test_deterministic_and_order_independent():
    a = Shapes("train", length=20)
    b = Shapes("train", length=20)
    for i in (7, 3, 19):
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])
    assert torch.equal(a[-1][0], b[19][0])


def test_splits_and_custom_seeds_are_disjoint():
    def fingerprints(ds):
        return {ds[i][0].numpy().tobytes() for i in range(len(ds))}

    sets = [fingerprints(Shapes(s, length=30)) for s in ("train", "val", "test")]
    sets.append(fingerprints(Shapes(None, length=30, seed=0)))
    sets.append(fingerprints(Shapes(None, length=30, seed=1)))
    for i in range(len(sets)):
        assert len(sets[i]) == 30
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]
    assert sorted(SPLIT_OFFSETS.values()) == [0, SPLIT_RANGE, 2 * SPLIT_RANGE]


def test_several_objects_with_overlaps_across_a_sample():
    ds = Shapes("train", length=60)
    counts, touching = [], 0
    for i in range(len(ds)):
        _, mask = ds[i]
        m = mask.numpy()
        counts.append(len(np.unique(m)) - 1)
        # two different shape classes meeting directly (no background between): overlap or contact
        horiz = (m[:, 1:] != m[:, :-1]) & (m[:, 1:] > 0) & (m[:, :-1] > 0)
        touching += bool(horiz.any())
    assert np.mean(counts) >= 1.8 and max(counts) >= 3
    assert touching >= 5


def test_every_class_appears_and_background_is_not_everything():
    _, masks = Shapes("train", length=100).as_tensors()
    freq = torch.bincount(masks.flatten(), minlength=Shapes.num_classes).float() / masks.numel()
    assert (freq[1:] > 0.01).all(), freq
    assert 0.5 < freq[0] < 0.95


def test_colour_does_not_give_away_the_class():
    """Mean colour of object pixels per class is nearly the same for every class (shared texture pool)."""
    images, masks = Shapes("train", length=300).as_tensors()
    means = []
    for k in range(1, Shapes.num_classes):
        sel = (masks == k).unsqueeze(1).expand_as(images)
        means.append(images[sel].reshape(-1).mean().item())
    assert max(means) - min(means) < 0.05, means


def test_rasterizer_matches_reference_polygon_fill():
    for name in ("square", "triangle", "star", "cross"):
        for angle in np.linspace(0, 2 * np.pi, 9):
            rows, cols, fast = rasterize(name, 64, 30.37, 31.71, 14.0, float(angle))
            ys = (np.arange(rows.start, rows.stop) + 0.5 - 31.71)[:, None]
            xs = (np.arange(cols.start, cols.stop) + 0.5 - 30.37)[None, :]
            ref = fill_polygon(xs, ys, shape_polygon(name, 14.0, float(angle)))
            assert (fast != ref).sum() <= 2, (name, angle)


def test_circle_area_close_to_pi_r_squared():
    _, _, mask = rasterize("circle", 128, 64.0, 64.0, 20.0, 0.0)
    assert abs(mask.sum() - np.pi * 400) / (np.pi * 400) < 0.02


def test_star_is_not_convex():
    """Two neighbouring tips are inside the star, the midpoint between them is not."""
    radius, cx, cy = 20.0, 32.0, 32.0
    rows, cols, star = rasterize("star", 64, cx, cy, radius, 0.0)

    def inside(r, angle_deg):
        a = np.deg2rad(angle_deg)
        return bool(star[int(cy + r * np.sin(a)) - rows.start, int(cx + r * np.cos(a)) - cols.start])

    assert inside(0.9 * radius, 90) and inside(0.9 * radius, 162)
    assert not inside(radius * np.cos(np.deg2rad(36)), 126)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"size": 16}, "between 32 and 256"),
        ({"size": 300}, "between 32 and 256"),
        ({"size": 64.5}, "integer"),
        ({"split": "training"}, "split must be one of"),
        ({"split": None}, "needs seed"),
        ({"split": "train", "seed": 3}, "either a named split or seed"),
        ({"length": 0}, "length"),
        ({"split": None, "seed": -1}, "non-negative"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Shapes(**kwargs)


def test_index_errors():
    ds = Shapes("train", length=3)
    with pytest.raises(IndexError, match="out of range for length 3"):
        ds[3]
    with pytest.raises(TypeError, match="integers"):
        ds["a"]


def test_transform_and_cache():
    calls = []

    def flip(image, mask):
        calls.append(1)
        return image.flip(-1), mask.flip(-1)

    plain = Shapes("val", length=2)
    ds = Shapes("val", length=2, transform=flip, cache=True)
    img, mask = ds[1]
    assert torch.equal(img, plain[1][0].flip(-1)) and torch.equal(mask, plain[1][1].flip(-1))
    ds[1]
    assert len(calls) == 2


def test_classification_one_object_and_label():
    ds = ShapesClassification("train", length=40)
    labels = []
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.shape == (3, 64, 64) and label.dtype == torch.int64 and label.ndim == 0
        labels.append(int(label))
    assert set(labels) == set(range(len(ShapesClassification.classes)))
    assert ShapesClassification.classes == SHAPE_NAMES


@pytest.mark.parametrize("shape", [(3, 5), (1, 2, 7), (3, 32, 33)])
def test_the_blur_equals_scipys_nearest_mode_correlation_bit_for_bit(shape):
    from scipy.ndimage import correlate1d

    from cnnlab.data.imaging import binomial_blur

    img = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32) * 4 - 1
    kernel = np.array([0.25, 0.5, 0.25], dtype=np.float32)
    expected = correlate1d(correlate1d(img, kernel, axis=-2, mode="nearest"), kernel, axis=-1, mode="nearest")
    blurred = binomial_blur(img)
    assert blurred.dtype == np.float32 and blurred.shape == img.shape
    assert np.array_equal(blurred, expected)


def test_rendering_shapes_does_not_import_scipy_ndimage():
    probe = "import sys; from cnnlab.data import Shapes; Shapes('train', 2, size=32)[1]; "
    probe += "print('scipy.ndimage' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
