"""Tests of SegmentationFolder, on small files written with PIL into a temporary folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data.folder import SegmentationFolder


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _mask(h: int, w: int, values: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, values, size=(h, w), dtype=np.uint8)


def _palette_png(path: Path, indices: np.ndarray) -> None:
    img = Image.new("P", (indices.shape[1], indices.shape[0]))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 253))  # colours unrelated to the indices
    img.putdata(indices.flatten().tolist())
    img.save(path)


@pytest.fixture
def folder(tmp_path: Path) -> dict:
    """Three pairs: an RGB PNG, a grey PNG with a palette mask, and an RGBA PNG with a .bmp mask."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    data = {"a": _rgb(10, 12, 1), "b": _rgb(10, 12, 2)[..., 0], "c": _rgb(10, 12, 3)}
    masks = {"a": _mask(10, 12, 3, 1), "b": _mask(10, 12, 3, 2), "c": _mask(10, 12, 2, 3)}
    Image.fromarray(data["a"]).save(tmp_path / "images" / "a.png")
    Image.fromarray(data["b"]).save(tmp_path / "images" / "b.png")
    rgba = np.concatenate([data["c"], np.full((10, 12, 1), 7, np.uint8)], axis=2)
    Image.fromarray(rgba).save(tmp_path / "images" / "c.png")
    Image.fromarray(masks["a"]).save(tmp_path / "masks" / "a.png")
    _palette_png(tmp_path / "masks" / "b.png", masks["b"])
    Image.fromarray(masks["c"]).save(tmp_path / "masks" / "c.bmp")
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    return {"root": tmp_path, "images": data, "masks": masks}


def test_round_trip(folder):
    ds = SegmentationFolder(folder["root"])
    assert len(ds) == 3
    assert [(p.name, m.name) for p, m in ds.pairs] == [("a.png", "a.png"), ("b.png", "b.png"), ("c.png", "c.bmp")]
    assert ds.classes is None
    for i, stem in enumerate("abc"):
        image, mask = ds[i]
        assert image.dtype == torch.float32 and image.shape == (3, 10, 12)
        assert mask.dtype == torch.int64 and mask.shape == (10, 12)
        written = folder["images"][stem].astype(np.float32) / 255
        if written.ndim == 2:  # grey: the same values in the three channels
            written = np.stack([written] * 3, axis=-1)
        np.testing.assert_allclose(image.numpy(), written.transpose(2, 0, 1), atol=1e-6)
        assert np.array_equal(mask.numpy(), folder["masks"][stem])
    assert Image.open(ds.pairs[1][1]).mode == "P"  # the palette mask really is one; read as indices


def test_jpeg_images_and_transform(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(_rgb(16, 16, 5)).save(tmp_path / "imgs" / "x.jpg", quality=95)
    Image.fromarray(_mask(16, 16, 4)).save(tmp_path / "labels" / "x.png")
    ds = SegmentationFolder(
        tmp_path,
        image_dir="imgs",
        mask_dir="labels",
        classes=("a", "b", "c", "d"),
        transform=lambda im, m: (im * 2, m + 1),
    )
    assert ds.classes == ("a", "b", "c", "d") and ds.num_classes == 4
    image, mask = ds[0]
    assert image.shape == (3, 16, 16) and float(image.max()) > 1.0
    assert np.array_equal(mask.numpy(), _mask(16, 16, 4).astype(np.int64) + 1)


def test_resize_keeps_valid_mask_values(folder):
    ds = SegmentationFolder(folder["root"], size=37, num_classes=3)
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.shape == (3, 37, 37) and mask.shape == (37, 37)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        written = set(np.unique(folder["masks"]["abc"[i]]).tolist())
        assert set(mask.unique().tolist()) <= written  # nearest neighbour: no new, blended values
    small = SegmentationFolder(folder["root"], size=5)
    assert small[0][1].shape == (5, 5)


def test_missing_root_and_subfolders(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope"))):
        SegmentationFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"images.*" + re.escape(str(tmp_path / "images"))):
        SegmentationFolder(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(FileNotFoundError, match=r"masks.*" + re.escape(str(tmp_path / "masks"))):
        SegmentationFolder(tmp_path)
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "readme.md").write_text("hi")
    with pytest.raises(FileNotFoundError, match=r"no images found.*readme\.md"):
        SegmentationFolder(tmp_path)


def test_unpaired_files_are_listed_with_counts(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(13):
        Image.fromarray(_rgb(4, 4, i)).save(tmp_path / "images" / f"img{i:02d}.png")
    for i in range(11):
        Image.fromarray(_mask(4, 4)).save(tmp_path / "masks" / f"img{i:02d}.png")
    Image.fromarray(_mask(4, 4)).save(tmp_path / "masks" / "orphan.png")
    with pytest.raises(ValueError) as info:
        SegmentationFolder(tmp_path)
    message = str(info.value)
    assert "2 image(s)" in message and "img11.png" in message and "img12.png" in message
    assert "1 mask(s)" in message and "orphan.png" in message
    for i in range(12):  # more than ten are cut short
        Image.fromarray(_mask(4, 4)).save(tmp_path / "masks" / f"extra{i:02d}.png")
    with pytest.raises(ValueError, match=r"13 mask\(s\).*extra00\.png.*\(3 more\)"):
        SegmentationFolder(tmp_path)


def test_size_mismatch_names_both_files(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(_rgb(8, 10, 0)).save(tmp_path / "images" / "ok.png")
    Image.fromarray(_mask(8, 10)).save(tmp_path / "masks" / "ok.png")
    Image.fromarray(_rgb(8, 10, 0)).save(tmp_path / "images" / "bad.jpg")
    Image.fromarray(_mask(9, 10)).save(tmp_path / "masks" / "bad.png")
    with pytest.raises(ValueError, match=r"bad\.jpg.*bad\.png.*expected 10x8, got 10x9"):
        SegmentationFolder(tmp_path)


def test_mask_value_out_of_range_raises_on_load(folder):
    ds = SegmentationFolder(folder["root"], num_classes=2)  # masks a and b hold the value 2
    assert ds[2][1].max() <= 1  # mask c only holds 0 and 1
    with pytest.raises(ValueError, match=r"a\.png.*value 2.*num_classes is 2"):
        ds[0]
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationFolder(folder["root"], num_classes=2, classes=("x", "y", "z"))


def test_corrupt_and_colour_files(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "broken.png").write_bytes(b"this is not a png")
    Image.fromarray(_mask(4, 4)).save(tmp_path / "masks" / "broken.png")
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png"):
        SegmentationFolder(tmp_path)

    # a truncated file: its header reads, its pixels do not
    data = tmp_path / "full.png"
    Image.fromarray(_rgb(64, 64, 0)).save(data)
    (tmp_path / "images" / "broken.png").write_bytes(data.read_bytes()[:200])
    Image.fromarray(_mask(64, 64)).save(tmp_path / "masks" / "broken.png")
    ds = SegmentationFolder(tmp_path)
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png: \S"):
        ds[0]

    Image.fromarray(_rgb(64, 64, 0)).save(tmp_path / "images" / "broken.png")
    Image.fromarray(_rgb(64, 64, 1)).save(tmp_path / "masks" / "broken.png")  # an RGB "mask"
    with pytest.raises(ValueError, match=r"broken\.png.*single-channel"):
        SegmentationFolder(tmp_path)[0]


def test_duplicate_stems(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(_rgb(4, 4, 0)).save(tmp_path / "images" / "x.png")
    Image.fromarray(_rgb(4, 4, 0)).save(tmp_path / "images" / "x.jpg")
    Image.fromarray(_mask(4, 4)).save(tmp_path / "masks" / "x.png")
    with pytest.raises(ValueError, match=r"x\.jpg and x\.png"):
        SegmentationFolder(tmp_path)
