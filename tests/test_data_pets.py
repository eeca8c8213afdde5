"""Tests of OxfordPets on a tiny fake copy of the data in torchvision's on-disk layout (no download)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data.pets import IGNORE_INDEX, OxfordPets

SPLITS = {
    "trainval": [("Abyssinian_1", 1, 1, 1), ("beagle_7", 13, 2, 1)],
    "test": [("Bengal_3", 6, 1, 4)],
}


def _trimap(h: int, w: int) -> np.ndarray:
    """Background 2 around a pet 1, with a border 3 between them (like the real trimaps)."""
    t = np.full((h, w), 2, dtype=np.uint8)
    t[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 3
    t[h // 4 + 2 : 3 * h // 4 - 2, w // 4 + 2 : 3 * w // 4 - 2] = 1
    return t


@pytest.fixture
def pets_root(tmp_path: Path) -> Path:
    base = tmp_path / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, rows in SPLITS.items():
        lines = []
        for k, (image_id, cls, species, breed) in enumerate(rows):
            h, w = 40 + 8 * k, 48
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(base / "images" / f"{image_id}.jpg")
            Image.fromarray(_trimap(h, w)).save(base / "annotations" / "trimaps" / f"{image_id}.png")
            lines.append(f"{image_id} {cls} {species} {breed}\n")
        (base / "annotations" / f"{split}.txt").write_text("".join(lines))
    return tmp_path


def test_mapping_and_shapes(pets_root):
    ds = OxfordPets(pets_root, size=64)
    assert len(ds) == 2
    assert ds.classes == ("background", "pet") and ds.num_classes == 2 and IGNORE_INDEX == 255
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.dtype == torch.float32 and image.shape == (3, 64, 64)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert mask.dtype == torch.int64 and mask.shape == (64, 64)
        assert set(mask.unique().tolist()) == {0, 1, 255}


def test_trimap_values_map_pixel_by_pixel(pets_root):
    image_id = SPLITS["trainval"][1][0]  # 48 x 48: with size=48 the resize keeps every pixel
    trimap = np.asarray(Image.open(pets_root / "oxford-iiit-pet" / "annotations" / "trimaps" / f"{image_id}.png"))
    assert trimap.shape == (48, 48) and set(np.unique(trimap).tolist()) == {1, 2, 3}
    image, mask = OxfordPets(pets_root, "trainval", size=48)[1]
    mask = mask.numpy()
    assert np.all(mask[trimap == 1] == 1)
    assert np.all(mask[trimap == 2] == 0)
    assert np.all(mask[trimap == 3] == IGNORE_INDEX)
    jpeg = np.asarray(Image.open(pets_root / "oxford-iiit-pet" / "images" / f"{image_id}.jpg").convert("RGB"))
    np.testing.assert_allclose(image.numpy(), jpeg.transpose(2, 0, 1) / 255, atol=1e-6)


def test_resized_mask_is_a_nearest_sample_of_the_trimap(pets_root):
    image_id = SPLITS["trainval"][0][0]
    trimap = np.asarray(Image.open(pets_root / "oxford-iiit-pet" / "annotations" / "trimaps" / f"{image_id}.png"))
    h, w = trimap.shape
    mask = OxfordPets(pets_root, "trainval", size=96)[0][1].numpy()
    rows = ((np.arange(96) + 0.5) * h / 96).astype(int)
    cols = ((np.arange(96) + 0.5) * w / 96).astype(int)
    expected = np.array([0, 1, 0, 255])[trimap[rows[:, None], cols[None, :]]]
    assert np.array_equal(mask, expected)


def test_both_splits_and_resize(pets_root):
    train, test = OxfordPets(pets_root, "trainval", size=32), OxfordPets(pets_root, "test", size=50)
    assert len(train) == 2 and len(test) == 1
    image, mask = test[0]
    assert image.shape == (3, 50, 50) and mask.shape == (50, 50)
    assert set(mask.unique().tolist()) <= {0, 1, 255}
    assert train[1][0].shape == (3, 32, 32)
    flipped = OxfordPets(pets_root, "test", size=50, transform=lambda im, m: (im.flip(-1), m.flip(-1)))
    assert torch.equal(flipped[0][1], mask.flip(-1))
    with pytest.raises(ValueError, match="split"):
        OxfordPets(pets_root, "val")


def test_missing_data_gives_a_helpful_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        OxfordPets(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "oxford-iiit-pet") in message
    assert "download=True" in message and "internet" in message
    assert "annotations/trimaps" in message.replace("\\", "/")


def test_images_folder_missing(pets_root):
    images = pets_root / "oxford-iiit-pet" / "images"
    for f in images.iterdir():
        f.unlink()
    images.rmdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(images))):
        OxfordPets(pets_root)


def test_root_pointing_inside_the_dataset_folder(pets_root):
    with pytest.raises(FileNotFoundError, match="parent"):
        OxfordPets(pets_root / "oxford-iiit-pet")
