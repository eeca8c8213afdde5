"""Write course/00_welcome.ipynb (kept as a script so the notebook's text is reviewable as code)."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(r"""# 00 · Welcome: your environment and the course's data

This course teaches convolutional networks and image segmentation through five lecture notebooks and
auto-graded assignments. Everything runs **offline** on a laptop CPU; a GPU is used when there is one.

This notebook checks that your set-up works and introduces the datasets used everywhere else. Run it
top to bottom (*Run → Run All Cells*). Each check is an `assert`: if a cell fails, its message says what
is wrong."""),
    new_markdown_cell(r"""## 1. Which device will the course use?

`cnnlab.device.get_device()` picks a CUDA GPU, else Apple's MPS, else the CPU. Set the environment
variable `COURSE_DEVICE=cpu` (or `cuda`, `mps`) before starting Jupyter to choose yourself.

Work budgets in the notebooks are written for a 2-core CPU; `scale_budget` gives a faster device larger
batches and more steps."""),
    new_code_cell("""import torch
from cnnlab.device import describe, get_device, scale_budget
from cnnlab.settings import fast_mode

device = get_device()
print(describe(device))
print("fast mode (COURSE_FAST):", fast_mode())
print("a CPU budget of 200 steps x 16 images becomes", scale_budget(200, 16, device), "here")
assert device.type in {"cpu", "cuda", "mps"}"""),
    new_markdown_cell(r"""## 2. `Shapes`: segmentation that needs context

Each image holds a few overlapping shapes (circle, square, triangle, star) on a textured background. Every
object and the background take their texture from **one shared pool** (photographs of brick, grass and
gravel bundled with scikit-image, stripes, checkerboards, noise, dots) in random colours. So the colour or
texture at a pixel says nothing about its class: only the *outline* of the object the pixel lies in does.
A network must see a whole object, i.e. have a receptive field at least as large as the object, to label
its pixels. We will measure this in lecture 04.

Items are `(image, mask)`: `image` is float32 `[3, H, W]` in $[0, 1]$, `mask` is int64 `[H, W]` with
$0$ for background and $k \ge 1$ for the $k$-th shape class."""),
    new_code_cell("""from cnnlab.data import Shapes
from cnnlab.viz import show_segmentation

train = Shapes("train", length=8)
images, masks = train.as_tensors()
assert images.dtype == torch.float32 and images.shape == (8, 3, 64, 64)
assert masks.dtype == torch.int64 and masks.shape == (8, 64, 64)
assert 0.0 <= images.min() and images.max() <= 1.0
print("classes:", Shapes.classes)
show_segmentation(images, masks, classes=Shapes.classes);"""),
    new_markdown_cell(r"""The splits `train`, `val` and `test` come from disjoint ranges of seeds, and an item depends
only on its split and index: `Shapes("val")[3]` is the same image on every machine, every time."""),
    new_code_cell("""a_image, a_mask = Shapes("val")[3]
b_image, b_mask = Shapes("val")[3]
assert torch.equal(a_image, b_image) and torch.equal(a_mask, b_mask)
assert not torch.equal(Shapes("train")[3][0], a_image)
print("same index, same image; different split, different image")"""),
    new_markdown_cell(r"""## 3. `Cells`: microscopy-like binary segmentation

Touching and overlapping cells under uneven illumination. As in the U-Net paper, touching cells are
separated by a thin background border in the mask, and `with_weights=True` also returns the paper's
weight map

$$w(x) = w_c(x) + w_0 \exp\left(-\frac{(d_1(x) + d_2(x))^2}{2\sigma^2}\right),$$

which makes those thin borders count more in the loss ($d_1, d_2$: distances to the nearest and second
nearest cell)."""),
    new_code_cell("""import matplotlib.pyplot as plt
from cnnlab.data import Cells

image, mask, weight = Cells("train", length=4, with_weights=True)[0]
assert image.shape[0] == 1 and set(mask.unique().tolist()) <= {0, 1}
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, (title, arr) in zip(axes, [("image", image[0]), ("mask", mask), ("weight map", weight)]):
    ax.imshow(arr, cmap="magma" if title == "weight map" else "gray")
    ax.set_title(title)
    ax.axis("off")
fig.tight_layout()"""),
    new_markdown_cell(r"""## 4. `ShapesClassification`: one shape per image

Used by the lectures on architectures and visualization: the label is the class of the single shape."""),
    new_code_cell("""from cnnlab.data import ShapesClassification
from cnnlab.viz import show_images

data = ShapesClassification("train", length=12)
items = [data[i] for i in range(12)]
assert all(0 <= int(label) < len(ShapesClassification.classes) for _, label in items)
show_images([img for img, _ in items], titles=[ShapesClassification.classes[int(lbl)] for _, lbl in items]);"""),
    new_markdown_cell(r"""## 5. Your own data

`SegmentationFolder(root)` reads `root/images/*` and `root/masks/*` with matching names, and
`OxfordPets(root)` reads the Oxford-IIIT Pet dataset through torchvision once you have downloaded it
yourself. Both give the same `(image, mask)` items as `Shapes`, so every notebook works with them.
The course itself never downloads anything.

You are ready: open `01_convolution.ipynb`."""),
]

nb = new_notebook(
    cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
)
nbformat.validate(nb)
nbformat.write(nb, "course/00_welcome.ipynb")
print("wrote course/00_welcome.ipynb")
