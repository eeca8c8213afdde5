"""The checks of Assignment 2 on the instructor's solution and on small wrong implementations written here."""

from __future__ import annotations

import functools

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from autograder.checks import budget
from autograder.checks import unet as checks
from autograder.checks.common import CheckFailed
from autograder.checks.hidden.unet_trainability import fingerprint
from autograder.checks.probes import not_moved_to_device, record_calls, wrong_cat_axis
from cnnlab.device import Budget
from tests.support.assignment02 import ASSIGNMENT, EXTRA_MISTAKES, NOTEBOOK
from tests.support.failing import fails as _fails
from tests.support.nbcourse import ROOT, solution_cells, solution_namespace

SETUP = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2
from tqdm.auto import tqdm
from cnnlab.data import Shapes
val_masks = Shapes("val", 20, size=32).as_tensors()[1]
"""


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace("02_unet", "02_unet", setup=SETUP)


@pytest.mark.parametrize("hidden", [False, True])
def test_instructor_solution_passes_every_check(solution, hidden):
    s = solution
    checks.check_iou_per_class(s["iou_per_class"], hidden=hidden)
    checks.check_mean_iou(s["mean_iou"], hidden=hidden)
    checks.check_dice(s["dice"], hidden=hidden)
    checks.check_pixel_accuracy(s["pixel_accuracy"], hidden=hidden)
    checks.check_unet_shapes(s["UNet"], hidden=hidden)
    checks.check_soft_dice_loss(s["soft_dice_loss"], hidden=hidden)
    checks.check_segmentation_loss(s["segmentation_loss"], hidden=hidden)
    checks.check_augmentation(s["augment"], hidden=hidden)
    if not hidden:
        checks.check_accuracy_trap(s["all_background_accuracy"], s["all_background_miou"], s["val_masks"])
        checks.check_double_conv(s["DoubleConv"])
        checks.check_unet_skips(s["UNet"])
        checks.check_unet_head(s["UNet"])
        checks.check_unet_params(s["UNet"])
        checks.check_unet_device_and_eval(s["UNet"])
        checks.check_evaluate(s["evaluate"])
        checks.check_train(s["train"])


def test_metric_checks_name_mistakes(solution):
    def iou_zero_for_absent(pred, target, num_classes, ignore_index=None):
        return torch.nan_to_num(solution["iou_per_class"](pred, target, num_classes, ignore_index))

    def iou_ignoring_nothing(pred, target, num_classes, ignore_index=None):
        return solution["iou_per_class"](pred, target.clamp(max=num_classes - 1), num_classes)

    def mean_with_zeros(pred, target, num_classes, ignore_index=None):
        return float(iou_zero_for_absent(pred, target, num_classes, ignore_index).mean())

    def dice_is_iou(pred, target, num_classes, ignore_index=None):
        return solution["mean_iou"](pred, target, num_classes, ignore_index)

    def accuracy_with_ignored(pred, target, ignore_index=None):
        return float((pred == target).double().mean())

    _fails(checks.check_iou_per_class, iou_zero_for_absent, phrase="return NaN")
    _fails(checks.check_iou_per_class, iou_ignoring_nothing, phrase="must not count")
    _fails(checks.check_mean_iou, mean_with_zeros, phrase="counted as IoU 0")
    _fails(checks.check_dice, dice_is_iou, phrase="this is the IoU, not Dice")
    _fails(checks.check_pixel_accuracy, accuracy_with_ignored, phrase="left out of the count")


def test_loss_checks_name_mistakes(solution):
    soft_dice = solution["soft_dice_loss"]

    def dice_on_argmax(logits, target, eps=1.0):
        return soft_dice(F.one_hot(logits.argmax(1), logits.shape[1]).permute(0, 3, 1, 2).double() * 50, target)

    def ce_on_probabilities(logits, target, weight_map=None, dice_weight=1.0):
        return (
            solution["segmentation_loss"](logits.softmax(1).log().exp(), target, weight_map, dice_weight) * 0
            + (
                F.cross_entropy(logits.softmax(1), target, reduction="none") * (1 if weight_map is None else weight_map)
            ).mean()
            + dice_weight * soft_dice(logits, target)
        )

    def weights_ignored(logits, target, weight_map=None, dice_weight=1.0):
        return solution["segmentation_loss"](logits, target, None, dice_weight)

    _fails(checks.check_soft_dice_loss, dice_on_argmax, phrase="")
    _fails(checks.check_segmentation_loss, ce_on_probabilities, phrase="softmax was applied before cross-entropy")
    _fails(checks.check_segmentation_loss, weights_ignored, phrase="weight map was ignored")


def test_network_checks_name_mistakes(solution):
    unet = solution["UNet"]

    class WrongAxis(unet):
        def forward(self, x):
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for up, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
                x = block(torch.cat([up(x), skip], dim=2)[:, :, : skip.shape[2]].repeat(1, 2, 1, 1))
            return self.head(x)

    class Softmaxed(unet):
        def forward(self, x):
            return super().forward(x).softmax(dim=1)

    class NoSkips(unet):
        def forward(self, x):
            for block in self.encoder:
                x = F.max_pool2d(block(x), 2)
            x = self.bottleneck(x)
            for up, block in zip(self.upsample, self.decoder):
                x = up(x)
                x = block(torch.cat([x, torch.zeros_like(x)], dim=1))
            return self.head(x)

    _fails(checks.check_unet_shapes, WrongAxis, phrase="concatenation on the wrong axis")
    _fails(checks.check_unet_head, Softmaxed, phrase="returns probabilities")
    _fails(checks.check_unet_skips, NoSkips, phrase="skip connections are missing or unused")


def test_iou_that_never_applies_ignore_index_is_named(solution):
    iou = solution["iou_per_class"]

    def never_ignores(pred, target, num_classes, ignore_index=None):
        return iou(pred, target, num_classes)

    _fails(checks.check_iou_per_class, never_ignores, phrase="ignore_index is never applied")


def test_a_class_at_a_single_pixel_is_present(solution):
    """A guard ``union > 1`` (or a Dice ``total > 1``) made a class at one pixel absent: no case had one before.
    The cases now hold such classes, in both prediction and target and in the prediction only."""

    def strict_guard_iou(pred, target, num_classes, ignore_index=None):
        if ignore_index is not None:
            keep = target != ignore_index
            pred, target = pred[keep], target[keep]
        ious = torch.full((num_classes,), float("nan"), dtype=torch.float64)
        for c in range(num_classes):
            union = ((pred == c) | (target == c)).sum()
            if union > 1:
                ious[c] = ((pred == c) & (target == c)).sum() / union
        return ious

    def strict_guard_dice(pred, target, num_classes, ignore_index=None):
        if ignore_index is not None:
            keep = target != ignore_index
            pred, target = pred[keep], target[keep]
        scores = []
        for c in range(num_classes):
            p, t = pred == c, target == c
            if p.sum() + t.sum() > 1:
                scores.append(2 * (p & t).sum().item() / (p.sum() + t.sum()).item())
        return sum(scores) / len(scores)

    for hidden in (False, True):
        _fails(checks.check_iou_per_class, strict_guard_iou, hidden=hidden, phrase="union is 0")
        _fails(checks.check_dice, strict_guard_dice, hidden=hidden, phrase="expected")


def test_unet_contract_average_pooling_and_loss_defaults_are_checked(solution):
    """Average pooling in the encoder, a forward that ignores its input, a UNet that builds for an unknown ``up``,
    and a loss whose default ``dice_weight`` is not 1.0 kept the architecture and loss points before."""
    unet, loss = solution["UNet"], solution["segmentation_loss"]

    class AveragePooled(unet):
        def forward(self, x):
            real = F.max_pool2d
            F.max_pool2d = F.avg_pool2d
            try:
                return super().forward(x)
            finally:
                F.max_pool2d = real

    class AnyUp(unet):
        def __init__(self, *args, up="transpose", **kwargs):
            super().__init__(*args, up=up if up == "bilinear" else "transpose", **kwargs)

    def dice_off_by_default(logits, target, weight_map=None, dice_weight=0.0):
        return loss(logits, target, weight_map=weight_map, dice_weight=dice_weight)

    _fails(checks.check_unet_skips, AveragePooled, phrase="average pooling")

    class IgnoresInput(unet):  # features computed from a constant image; the hooks still see every level
        def forward(self, x):
            return super().forward(torch.ones_like(x))

    _fails(checks.check_unet_skips, IgnoresInput, phrase="two different inputs gave the same output")
    _fails(checks.check_unet_shapes, AnyUp, phrase="raises ValueError")
    checks.check_unet_shapes(AnyUp, hidden=True)  # the hidden cases judge shapes only
    _fails(checks.check_segmentation_loss, dice_off_by_default, phrase="keep the signature's defaults")


def test_skip_check_holds_every_deeper_level_fixed(solution):
    """Only the deepest skip used: perturbing a shallower level still reached the output through the deeper levels
    when only the bottleneck was held fixed; now every deeper level is, and the missing skips are named."""
    unet = solution["UNet"]

    class DeepestSkipOnly(unet):
        def forward(self, x):
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for level, (up, block, skip) in enumerate(zip(self.upsample, self.decoder, reversed(skips))):
                x = up(x)
                x = block(torch.cat([x, skip if level == 0 else torch.zeros_like(skip)], dim=1))
            return self.head(x)

    message = _fails(checks.check_unet_skips, DeepestSkipOnly, phrase="skip connections are missing or unused")
    assert "level(s) 0, 1" in message


def test_additive_skips_and_an_ignored_up_argument_are_named(solution):
    unet, double_conv = solution["UNet"], solution["DoubleConv"]

    class Additive(unet):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.decoder = nn.ModuleList(
                double_conv(b.block[0].in_channels // 2, b.block[0].out_channels) for b in self.decoder
            )

        def forward(self, x):
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for up, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
                x = block(up(x) + skip)
            return self.head(x)

    class AlwaysTransposed(unet):
        def __init__(self, in_channels, num_classes, depth=4, base_channels=16, up="transpose"):
            super().__init__(in_channels, num_classes, depth, base_channels, "transpose")

    class SkipsInOrder(unet):
        def forward(self, x):
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for up, block, skip in zip(self.upsample, self.decoder, skips):
                x = block(torch.cat([up(x), skip], dim=1))
            return self.head(x)

    _fails(checks.check_unet_shapes, SkipsInOrder, phrase="skip connections are taken in the wrong order")
    _fails(checks.check_unet_skips, Additive, phrase="added (or left out) instead of concatenated")
    _fails(checks.check_unet_skips, AlwaysTransposed, phrase="the up argument is ignored")


def test_evaluate_check_names_mistakes(solution):
    mean_iou = solution["mean_iou"]

    def no_eval(model, images, masks, num_classes, batch_size=32):
        device = next(model.parameters()).device
        with torch.no_grad():
            pred = torch.cat([model(images[i : i + 8].to(device)).argmax(1) for i in range(0, len(images), 8)])
        return mean_iou(pred.cpu(), masks, num_classes)

    def not_moved(model, images, masks, num_classes, batch_size=32):
        model.eval()
        with torch.no_grad():
            return mean_iou(model(images).argmax(1), masks, num_classes)

    def on_logits(model, images, masks, num_classes, batch_size=32):
        model.eval()
        with torch.no_grad():
            logits = model(images.to(next(model.parameters()).device))
        return mean_iou(logits.long(), masks, num_classes)

    _fails(checks.check_evaluate, no_eval, phrase="left in train mode at evaluation")
    _fails(checks.check_evaluate, not_moved, phrase="not moved to the model's device")
    _fails(checks.check_evaluate, on_logits, phrase="IoU computed on logits or probabilities")


def test_augmentation_check_names_mistakes():
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    flip = v2.RandomHorizontalFlip()

    def separately(image, mask):
        return flip(image), flip(tv_tensors.Mask(mask)).as_subclass(torch.Tensor)

    def bilinear_mask(image, mask):
        angle = float(torch.empty(1).uniform_(-30, 30))
        rotate = v2.functional.rotate
        image = rotate(image, angle, interpolation=v2.InterpolationMode.BILINEAR)
        warped = rotate(mask[None].float(), angle, interpolation=v2.InterpolationMode.BILINEAR)
        return image, warped[0].round().long()

    def python_random(image, mask):
        import random

        return (image.flip(-1), mask.flip(-1)) if random.random() < 0.5 else (image, mask)

    _fails(checks.check_augmentation, separately, phrase="different random parameters")
    _fails(checks.check_augmentation, bilinear_mask, phrase="invalid class values")
    _fails(checks.check_augmentation, python_random, phrase="reproducible")


def _augment_with(*transforms):
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    compose = v2.Compose(list(transforms))

    def augment(image, mask):
        image, mask = compose(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return image.as_subclass(torch.Tensor).clamp(0, 1), mask.as_subclass(torch.Tensor)

    return augment


def test_augmentation_must_hold_what_the_task_asks_for():
    """A horizontal flip, a rotation, brightness and noise: leaving one out lost no point before (a vertical flip
    with a small turn cannot stand in for the horizontal flip)."""
    from torchvision.transforms import v2

    flip, vflip = v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()
    turn = v2.RandomApply([v2.RandomRotation(degrees=25)], p=0.5)
    bright, noise = v2.ColorJitter(brightness=0.25), v2.GaussianNoise(sigma=0.02)
    for hidden in (False, True):
        fails = functools.partial(_fails, checks.check_augmentation, hidden=hidden)
        fails(_augment_with(vflip, turn, bright, noise), phrase="random horizontal flip")
        fails(_augment_with(flip, vflip, bright, noise), phrase="random rotation")
        fails(_augment_with(flip, vflip, turn, noise), phrase="brightness")
        fails(_augment_with(flip, vflip, turn, bright), phrase="Gaussian noise")


def test_augmentation_in_other_styles_passes():
    """Any order, any geometric transform that includes the required ones, or plain torch code."""
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as TF

    def by_hand(image, mask):
        if torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        angle = float(torch.empty(()).uniform_(-20, 20))
        image = TF.rotate(image, angle, interpolation=v2.InterpolationMode.BILINEAR)
        mask = TF.rotate(mask[None], angle, interpolation=v2.InterpolationMode.NEAREST, fill=0)[0]
        image = image * float(torch.empty(()).uniform_(0.8, 1.2))
        return (image + 0.03 * torch.randn_like(image)).clamp(0, 1), mask

    styles = [
        _augment_with(
            v2.ColorJitter(brightness=0.2), v2.GaussianNoise(), v2.RandomHorizontalFlip(), v2.RandomRotation(15)
        ),
        _augment_with(
            v2.RandomHorizontalFlip(0.3),
            v2.RandomAffine(degrees=20, translate=(0.1, 0.1)),
            v2.ColorJitter(brightness=0.3, contrast=0.2),
            v2.GaussianNoise(sigma=0.05),
        ),
        _augment_with(
            v2.RandomVerticalFlip(), v2.RandomRotation(180), v2.ColorJitter(brightness=0.2), v2.GaussianNoise()
        ),  # a half turn and a vertical flip make the horizontal one
        by_hand,
    ]
    for augment in styles:
        checks.check_augmentation(augment)
        checks.check_augmentation(augment, hidden=True)


def _sgd_loop(prepare):
    """A student's hand-written training loop (SGD, cross-entropy, batches moved to ``device``) that begins with
    ``prepare(model, device)`` instead of moving the model and switching it to train mode."""

    def loop(model, dataset, budget, lr=1e-2, device=None, augment=None, progress=True):
        prepare(model, device)
        losses = []
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        loader = torch.utils.data.DataLoader(dataset, batch_size=budget.batch_size, drop_last=True)
        while len(losses) < budget.steps:
            for images, masks in loader:
                if len(losses) == budget.steps:
                    break
                if augment:
                    images, masks = augment(images, masks)
                loss = F.cross_entropy(model(images.to(device)), masks.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        return losses

    return loop


def test_train_check_names_a_loop_that_stays_in_eval_mode(solution):
    eval_mode_loop = _sgd_loop(lambda model, device: model.to(device).eval())
    _fails(checks.check_train, eval_mode_loop, phrase="trained in eval mode")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (on a CPU the model is already there)")
def test_train_check_names_a_model_left_on_the_cpu(solution):
    model_not_moved = _sgd_loop(lambda model, device: model.train())
    _fails(checks.check_train, model_not_moved, phrase="the model must be moved to the device")


def test_probe_records_concatenation_axes():
    with record_calls() as log:
        torch.cat([torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3)], dim=1)
        torch.cat([torch.zeros(3), torch.zeros(2)])
    assert not wrong_cat_axis(log)
    with record_calls() as log:
        torch.cat([torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3)], 0)
    assert wrong_cat_axis(log)


def test_data_not_moved_to_the_device_is_named_on_a_cpu_and_on_a_gpu():
    """On a CPU such code runs and only the call log shows the mistake; on a GPU its call fails with a device
    mismatch, and that failure is explained the same way (the GPU run of the checks above shows it for real); so is
    a mismatch after something was moved (the model, but not every batch or its masks)."""
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    mismatch = CheckFailed("evaluate", "raised RuntimeError: Expected all tensors to be on the same device")
    with record_calls() as idle:
        torch.zeros(2).add(1)
    with record_calls() as moved:
        torch.zeros(2).to("cpu")
    for device in (cpu, gpu):
        not_moved_to_device("evaluate", device, moved)  # moved, and no failure: nothing to name
    not_moved_to_device("evaluate", cpu, moved, mismatch)  # on a CPU the failure has another cause
    with pytest.raises(CheckFailed, match="not every tensor the step uses") as info:  # moved, yet a GPU mismatch
        not_moved_to_device("evaluate", gpu, moved, mismatch)
    assert info.value.message.startswith(mismatch.message)
    other = CheckFailed("evaluate", "raised RuntimeError: shape mismatch")
    not_moved_to_device("evaluate", gpu, moved, other)  # not a device failure: left as it is
    with pytest.raises(CheckFailed, match="not moved to the model's device: on a GPU this fails"):
        not_moved_to_device("evaluate", cpu, idle)
    with pytest.raises(CheckFailed, match="Likely mistake: the data is not moved to the model's device") as info:
        not_moved_to_device("evaluate", gpu, idle, mismatch)
    assert info.value.message.startswith(mismatch.message)
    not_moved_to_device("evaluate", cpu, idle, mismatch)  # on a CPU the failure has another cause: not named here
    not_moved_to_device("evaluate", gpu, idle)  # ran on a GPU without a move: the data was already there


def test_fingerprint_tells_networks_apart(solution):
    unet = solution["UNet"]

    def build(**kwargs):
        torch.manual_seed(0)
        return unet(3, 5, depth=2, base_channels=4, **kwargs)

    assert fingerprint(build()) == fingerprint(build())
    assert fingerprint(build()) != fingerprint(build(up="bilinear"))


def test_training_budget_outside_and_during_grading(monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("AUTOGRADER_GRADING", raising=False)
    assert budget.training_budget(1000, 16, "cpu") == Budget(1000, 16)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    graded = budget.training_budget(10 * budget.GRADING_STEPS, 64, "cpu")
    assert graded == Budget(budget.GRADING_STEPS, budget.GRADING_BATCH_SIZE)
    assert "cut from" in capsys.readouterr().out
    assert budget.training_budget(10, 8, "cpu") == Budget(10, 8)


def test_step_limit_stops_a_cell_and_lifts_for_the_grader(monkeypatch):
    counter = budget._StepCounter(limit=3)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    handle = register_optimizer_step_pre_hook(counter.before_step)
    monkeypatch.setattr(budget, "_counter", counter)
    try:
        for _ in range(3):
            optimizer.step()
        with budget.unlimited():
            for _ in range(5):
                optimizer.step()
        with pytest.raises(budget.TrainingBudgetReached, match="grading budget"):
            optimizer.step()
        counter.reset()
        optimizer.step()  # a new cell starts with a fresh count
    finally:
        handle.remove()


@pytest.mark.parametrize("mistake", EXTRA_MISTAKES, ids=lambda m: m.name)
def test_extra_mistakes_fail_their_test_cells_with_named_messages(mistake):
    """Run the instructor's notebook with the mistake in-process: the cells it should fail fail, naming it."""
    nb = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    answers = solution_cells(ASSIGNMENT, NOTEBOOK)
    for m in mistake.mutations:
        answers[m.cell] = answers[m.cell].replace(m.old, m.new)
    ns: dict = {}
    messages = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or not meta or (meta.get("grade") and gid not in mistake.failing):
            continue
        source = answers.get(gid, cell.source) if meta.get("solution") else cell.source
        if meta.get("grade"):
            with pytest.raises(AssertionError) as info:
                exec(source.replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", ""), ns)
            messages[gid] = str(info.value)
        elif gid in ("setup", "data") or meta.get("solution"):
            exec(source, ns)
    assert set(messages) == set(mistake.failing)
    assert any(mistake.phrase in text for text in messages.values()), messages


def test_training_and_evaluation_are_deterministic(solution):
    """What grading twice must reproduce: the fixed recipe's weights, the notebook's own loop, the evaluation."""
    from autograder.checks.hidden.unet_trainability import Recipe, train_with_recipe
    from autograder.checks.unet.results import miou_of, split_data

    recipe = Recipe(depth=2, base_channels=4, steps=15, train_images=64)

    def recipe_run():
        torch.manual_seed(0)
        return train_with_recipe(solution["UNet"](3, 5, depth=2, base_channels=4), recipe, torch.device("cpu"))

    first, second = recipe_run(), recipe_run()
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    images, masks = split_data(None, "val", length=32)
    assert miou_of(first, images, masks) == miou_of(second, images, masks)

    data = torch.utils.data.TensorDataset(images, masks)

    def notebook_run():
        torch.manual_seed(0)
        model = solution["UNet"](3, 5, depth=2, base_channels=4)
        return solution["train"](model, data, Budget(10, 8), device=torch.device("cpu"), progress=False)

    assert notebook_run() == notebook_run()


def test_the_recipe_trains_channels_last_and_a_network_that_cannot_is_trained_as_usual(solution, capsys):
    """The trainability recipe trains in the channels-last layout (faster on a CPU); a UNet whose code cannot take
    that layout (here a ``.view`` that merges the channel axis) is trained again from its initial weights in the
    default layout and earns exactly what the same network earns there."""
    from dataclasses import replace

    from autograder.checks.hidden.unet_trainability import Recipe, check_trainability, train_with_recipe

    unet = solution["UNet"]

    class ViewingUNet(unet):
        def forward(self, x):
            return super().forward(x.view(x.shape[0], -1).view(x.shape))

    recipe = Recipe(depth=2, base_channels=4, steps=12, train_images=64)
    torch.manual_seed(0)
    trained = train_with_recipe(unet(3, 5, depth=2, base_channels=4), recipe, torch.device("cpu"))
    convs = [p for p in trained.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] > 1]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)
    with pytest.raises(RuntimeError, match="view"):
        torch.manual_seed(0)
        train_with_recipe(ViewingUNet(3, 5, depth=2, base_channels=4), recipe, torch.device("cpu"))

    def printed_miou(network, used) -> str:
        check_trainability(network, 0.0, seed=424242, recipe=used)
        return capsys.readouterr().out

    default_layout = replace(recipe, channels_last=False)
    assert printed_miou(ViewingUNet, recipe) == printed_miou(unet, default_layout)
    assert "mean IoU" in printed_miou(unet, recipe)


class _DoubleConvLayers(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch)
        self.c2, self.b2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch)


class _NoMiddleReLU(_DoubleConvLayers):
    def forward(self, x):
        return torch.relu(self.b2(self.c2(self.b1(self.c1(x)))))


class _ReLUBeforeBatchNorm(_DoubleConvLayers):
    def forward(self, x):
        return self.b2(torch.relu(self.c2(self.b1(torch.relu(self.c1(x)))))).clamp(min=0)


class _SecondConvSkipped(_DoubleConvLayers):
    def forward(self, x):
        return torch.relu(self.b2(self.b1(self.c1(x))))


class _IgnoresItsInput(_DoubleConvLayers):
    def forward(self, x):
        return torch.zeros(x.shape[0], self.c2.out_channels, *x.shape[2:])


class _SequentialDoubleConv(nn.Module):
    """As the popular open-source U-Net writes it: one Sequential, a mid_channels argument, in-place ReLUs."""

    def __init__(self, in_ch: int, out_ch: int, mid_ch: int | None = None) -> None:
        super().__init__()
        mid_ch = mid_ch or out_ch
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_ch, mid_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_ch, out_ch, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


@pytest.mark.parametrize(
    "block, phrase",
    [
        (_NoMiddleReLU, "the ReLU between the two convolutions is missing"),
        (_ReLUBeforeBatchNorm, "ReLU comes before BatchNorm"),
        (_SecondConvSkipped, "computed with its own layers"),
        (_IgnoresItsInput, "does not depend on the input"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[:30],
)
def test_a_double_conv_with_the_right_layers_but_the_wrong_computation_fails(block, phrase):
    with pytest.raises(CheckFailed, match=phrase):
        checks.check_double_conv(block)


def test_a_double_conv_written_as_one_sequential_passes():
    checks.check_double_conv(_SequentialDoubleConv)


def test_train_is_checked_with_the_signatures_defaults(solution):
    """Only explicit lr and device were passed before, on data that splits evenly into batches: a default lr of 0.1
    (or 0), a device=None that never falls back to the model's device, unshuffled batches or a short last batch
    kept every point; so did training on only the images or only the masks of the augmented pairs (the check's
    augment was the identity), and a loop that reuses the last batch when the loader runs out."""
    source = solution_cells(ASSIGNMENT, NOTEBOOK)["train"]

    def variant(old: str, new: str):
        assert old in source
        ns = dict(solution)
        exec(source.replace(old, new), ns)
        return ns["train"]

    checks.check_train(solution["train"])
    for lr in ("0.1", "0.0"):
        wrong = variant("lr=1e-2, device=None", f"lr={lr}, device=None")
        _fails(checks.check_train, wrong, phrase="the default is lr=1e-2")
    stays_none = variant("device = device or next(model.parameters()).device\n", "\n")
    _fails(checks.check_train, stays_none, phrase="device=None")
    in_order = variant("shuffle=True", "shuffle=False")
    _fails(checks.check_train, in_order, phrase="shuffle=True")
    partial_batches = variant("drop_last=True", "drop_last=False")
    _fails(checks.check_train, partial_batches, phrase="drop_last=True")
    masks_left = variant("            masks = torch.stack([mask for _, mask in pairs])\n", "")
    _fails(checks.check_train, masks_left, phrase="only the images, or only the masks")
    images_left = variant("            images = torch.stack([image for image, _ in pairs])\n", "")
    _fails(checks.check_train, images_left, phrase="only the images, or only the masks")
    repeats = variant(
        "            batches = iter(loader)\n            images, masks = next(batches)\n",
        "            batches = iter(loader)\n",
    )
    _fails(checks.check_train, repeats, phrase="used the same batch")
    never_zeroed = variant("        optimizer.zero_grad(set_to_none=True)\n", "")
    _fails(checks.check_train, never_zeroed, phrase="optimizer.zero_grad()")
    clipped = variant(
        "        optimizer.step()\n",
        "        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)\n        optimizer.step()\n",
    )
    checks.check_train(clipped)  # clipping scales the step's own gradients: still fresh
    never_trains = variant("        model.train()\n", "")
    _fails(checks.check_train, never_trains, phrase="call model.train() before each training step")
    left_training = variant("    model.eval()\n    return losses", "    return losses")
    _fails(checks.check_train, left_training, phrase="leave the model in eval mode")


def test_an_epoch_style_training_loop_keeps_full_marks(solution):
    """Passes over the loader counted in epochs, float(loss), no channels-last, no fused Adam: the same loop."""
    segmentation_loss = solution["segmentation_loss"]

    def train(model, dataset, budget, lr=1e-2, device=None, augment=None, progress=True):
        if device is None:
            device = next(model.parameters()).device
        model = model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
        loader = torch.utils.data.DataLoader(dataset, batch_size=budget.batch_size, shuffle=True, drop_last=True)
        losses = []
        while len(losses) < budget.steps:
            for images, masks in loader:
                if len(losses) == budget.steps:
                    break
                if augment:
                    images, masks = map(torch.stack, zip(*[augment(i, m) for i, m in zip(images, masks)]))
                model.train()
                optimizer.zero_grad()
                loss = segmentation_loss(model(images.to(device)), masks.to(device))
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(float(loss))
        model.eval()
        return losses

    checks.check_train(train)
