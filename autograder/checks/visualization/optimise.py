"""Checks of Assignment 4's gradient ascent on the input: class maximisation and DeepDream.

Each runs on a seeded ``ProbeNet`` (not the student's trained network, so the points never depend on training
noise): the objective must rise, and the result must equal the grader's reference on the same network and seed
(``autograder.checks.expected``: computed by ``hidden.visualization`` when graded, recorded in the student
edition). The typical mistakes (descent instead of ascent, the regulariser's sign, a softmax probability for the
logit, the loss averaged or the gradients never zeroed, an unnormalised DeepDream step) come with the expected
values and are named when they match; so is a model left in train mode (its BatchNorm statistics change). The
objective before and after is measured with the student's own ``class_objective`` (checked first), and the TV
penalty handed to ``class_objective`` and ``maximise_class`` is the student's ``tv_penalty`` (checked first).
"""

from __future__ import annotations

import torch

from ..common import CheckFailed, case_of, grader_only
from ..expected import expect
from .common import (
    TRAIN_MODE,
    ProbeNet,
    batchnorm_state,
    close,
    first_match,
    generator,
    left_in_train_mode,
    own_call,
    require_defaults,
    require_detached,
    require_tensor,
)

CLASS_TASK = "maximise_class"
DREAM_TASK = "deepdream"

WRONG_SIGN = "the regulariser added with the wrong sign: the objective is Phi_Last(x)[y0] - lam * R(x)"
DESCENT = (
    "gradient descent instead of ascent: the objective fell. Minimise -objective (or step along +gradient) "
    "so that the class score rises"
)
MEAN_LOSS = (
    "the loss averaged over the images, -objective.mean(), instead of summed: Adam nearly ignores the scale of "
    "the loss, but not where a pixel's gradient is as small as its eps (1e-8); minimise -objective.sum(), as the "
    "task says"
)
NO_ZERO_GRAD = (
    "the gradients never zeroed: x.grad adds up over the steps, so each step follows the sum of all the gradients "
    "so far; call optimizer.zero_grad() before every backward()"
)


def _images(seed: int, n: int, size: int) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=generator(seed))


def l2_penalty(x: torch.Tensor) -> torch.Tensor:
    """Per image: the mean of ``(x - 0.5)^2`` (pulls towards grey); the notebook's L2 regulariser."""
    return (x - 0.5).pow(2).mean(dim=(1, 2, 3))


def _energy(net, x: torch.Tensor, layer: int) -> torch.Tensor:
    """The mean square of the activations ``net.features(x)[layer]`` (what DeepDream raises)."""
    return net.features(x)[layer].pow(2).mean()


def check_class_maximisation(tv_penalty, class_objective, maximise_class, seed: int = 0) -> None:
    """``tv_penalty``, ``class_objective`` and ``maximise_class`` against the library on a seeded network."""
    require_defaults("class_objective", class_objective, {"penalty": None, "lam": 0.0})
    require_defaults(
        CLASS_TASK, maximise_class, {"penalty": None, "lam": 0.0, "steps": 200, "lr": 0.05, "size": 64, "seed": 0}
    )
    task = "tv_penalty"
    x = _images(seed + 1, 3, 9)
    x[1] = 0.5
    got = own_call(task, tv_penalty, x.clone())
    require_tensor(task, got, (3,), "x of shape (3, 3, 9, 9)", "the penalty (one value per image)")
    values = expect("visualization", "tv_penalty", f"seed={seed}", x)
    expected = values["expected"]
    if not close(got, expected):
        hint = first_match(
            got,
            [
                (values["squares"], "squares instead of |.|"),
                (values["sums"], "sums instead of means"),
                (values["vertical_only"], "the horizontal differences are missing"),
            ],
        )
        raise CheckFailed(
            task,
            f"got {got.tolist()}, expected {expected.tolist()} for x of shape (3, 3, 9, 9)."
            + (f"\nLikely mistake: {hint}" if hint else ""),
        )

    net = ProbeNet(seed, classes=4)
    targets = torch.tensor([2, 0, 3] if seed == 0 else grader_only("visualization").CLASS_TARGETS)
    x = _images(seed + 2, 3, 12)
    penalties = {None: None, "l2": l2_penalty, "tv": tv_penalty}
    cases = list([(0.0, None), (0.7, "l2"), (1.3, "tv")])
    for index, (lam, name) in enumerate(cases):
        with case_of(index, len(cases)):
            penalty = penalties[name]
            case = f"lam={lam}, penalty={name and name + '_penalty'}, targets={targets.tolist()}"
            got = own_call("class_objective", class_objective, net, x.clone(), targets, penalty, lam)
            require_tensor("class_objective", got, (3,), case, "the objective (one value per image)")
            key = f"seed={seed},lam={lam},penalty={name}"
            values = expect("visualization", "class_objective", key, net, x, targets, name, lam)
            expected = values["expected"]
            if not close(got, expected):
                hint = first_match(
                    got,
                    [
                        (values["wrong_sign"], WRONG_SIGN),
                        (values["softmax"], "the softmax probability instead of the logit (score) of the class"),
                        (values["no_lam"], "lam not applied to the penalty"),
                    ],
                )
                raise CheckFailed(
                    "class_objective",
                    f"got {got.tolist()}, expected {expected.tolist()} for {case}."
                    + (f"\nLikely mistake: {hint}" if hint else ""),
                )

    def objective(images: torch.Tensor, penalty=None, lam: float = 0.0) -> torch.Tensor:
        with torch.no_grad():
            return own_call("class_objective", class_objective, net, images, targets, penalty, lam)

    cases = list([("tv", 0.2, 12, 0.05), ("l2", 0.5, 10, 0.02)])
    for index, (name, lam, steps, lr) in enumerate(cases):
        with case_of(index, len(cases)):
            penalty = penalties[name]
            case = f"penalty={name}_penalty, lam={lam}, steps={steps}, lr={lr}, size=16, seed={seed}"
            net.train()  # the function must put it in eval mode
            state = batchnorm_state(net)
            got = own_call(
                CLASS_TASK,
                maximise_class,
                net,
                targets,
                penalty=penalty,
                lam=lam,
                steps=steps,
                lr=lr,
                size=16,
                seed=seed,
            )
            if left_in_train_mode(state, net):
                raise CheckFailed(
                    CLASS_TASK, f"BatchNorm's running statistics changed for {case}.\nLikely mistake: {TRAIN_MODE}"
                )
            require_tensor(CLASS_TASK, got, (3, 3, 16, 16), case, "the images")
            require_detached(CLASS_TASK, got, case)
            net.eval()
            start = (0.5 + 0.02 * torch.randn(3, 3, 16, 16, generator=generator(seed))).clamp(0, 1)
            before = objective(start, penalty, lam)
            after = objective(got.detach(), penalty, lam)
            key = f"seed={seed},targets={targets.tolist()},penalty={name},lam={lam},steps={steps},lr={lr}"
            images = expect("visualization", "maximise_class", key, net, targets, name, lam, steps, lr, 16, seed)
            # a known loop mistake first: without zero_grad the objective can fall although the signs are right
            hint = ""
            if not close(got, images["expected"], 1e-3):
                hint = first_match(got, [(images["mean"], MEAN_LOSS), (images["no_zero_grad"], NO_ZERO_GRAD)], 1e-3)
            if float(after.mean()) <= float(before.mean()):
                if not hint:
                    score_before, score_after = objective(start), objective(got.detach())
                    hint = DESCENT if float(score_after.mean()) <= float(score_before.mean()) else WRONG_SIGN
                raise CheckFailed(
                    CLASS_TASK,
                    f"the objective fell from {before.mean():.4f} to {after.mean():.4f} for {case}."
                    f"\nLikely mistake: {hint}",
                )
            if not (float(got.min()) >= 0 and float(got.max()) <= 1):  # NaN fails too
                raise CheckFailed(CLASS_TASK, f"the images leave [0, 1] for {case}: clip x after every step")
            if not close(got, images["expected"], 1e-3):
                raise CheckFailed(
                    CLASS_TASK,
                    f"the objective rose ({before.mean():.4f} -> {after.mean():.4f}) but the images differ from the "
                    f"reference for {case}: start from 0.5 + 0.02 * randn drawn from "
                    "torch.Generator().manual_seed(seed), "
                    "take `steps` Adam steps (lr) on -objective.sum(), and clip to [0, 1] after each"
                    + (f".\nLikely mistake: {hint}" if hint else ""),
                )


# ----------------------------------------------------------------------------------------------------------
# DeepDream

NO_NORMALISATION = (
    "DeepDream step without gradient normalisation: divide the gradient by its mean absolute value (+ 1e-8), "
    "so that the step size lr does not depend on the layer"
)


def check_deepdream(dream_step, deepdream, seed: int = 0) -> None:
    """``dream_step`` and ``deepdream`` raise the layer's energy and equal the library's on a seeded network."""
    require_defaults("dream_step", dream_step, {"lr": 0.02, "shift": (0, 0)})
    require_defaults(
        DREAM_TASK, deepdream, {"octaves": 3, "scale": 1.5, "steps": 20, "lr": 0.02, "jitter": 6, "seed": 0}
    )
    net = ProbeNet(seed + 7, gain=10.0)  # mean|g| far above the step's 1e-8 guard (see ProbeNet)
    image = _images(seed + 3, 1, 20)
    cases = list([(0, 0.02, (0, 0)), (1, 0.05, (0, 0)), (1, 0.05, (2, -3))])
    for index, (layer, lr, shift) in enumerate(cases):
        with case_of(index, len(cases)):
            case = f"layer={layer}, lr={lr}, shift={shift}, image of shape (1, 3, 20, 20)"
            net.train()
            state = batchnorm_state(net)
            given = image.clone()
            if shift == (0, 0):  # the default shift
                got = own_call("dream_step", dream_step, net, given, layer, lr)
            else:
                got = own_call("dream_step", dream_step, net, given, layer, lr, shift)
            if given.requires_grad or given.grad is not None:
                raise CheckFailed(
                    "dream_step",
                    f"the input x was changed (it now requires grad) for {case}: differentiate a detached copy, "
                    "x = x.detach().requires_grad_(True)",
                )
            if left_in_train_mode(state, net):
                raise CheckFailed(
                    "dream_step", f"BatchNorm's running statistics changed for {case}.\nLikely mistake: {TRAIN_MODE}"
                )
            require_tensor("dream_step", got, (1, 3, 20, 20), case, "the new image")
            require_detached("dream_step", got, case)
            net.eval()
            with torch.no_grad():
                before = _energy(net, image, layer)
                after = _energy(net, got.detach(), layer)
            key = f"seed={seed},layer={layer},lr={lr},shift={shift}"
            steps = expect("visualization", "dream_step", key, net, image, layer, lr, shift)
            if close(got, steps["expected"], 1e-4):
                continue
            if shift != (0, 0) and close(got, steps["unshifted"], 1e-4):
                raise CheckFailed(
                    "dream_step",
                    f"the step ignores the shift for {case}.\nLikely mistake: the energy "
                    "must be computed on the rolled "
                    "image, model.features(torch.roll(x, shifts=shift, dims=(2, 3)))[layer]",
                )
            hint = first_match(
                got,
                [
                    (steps["no_normalisation"], NO_NORMALISATION),
                    (steps["not_clipped"], "the result is not clipped to [0, 1]"),
                    (steps["descent"], DESCENT),
                    (steps["norm"], "divide by the mean |g|, not the norm"),
                ],
            )
            if not hint and float(after) <= float(before):
                hint = DESCENT
            raise CheckFailed(
                "dream_step",
                f"the step differs from x + lr * g / (mean|g| + 1e-8), clipped, for {case} (the layer's energy went "
                f"{before:.4f} -> {after:.4f})." + (f"\nLikely mistake: {hint}" if hint else ""),
            )

    photo = _images(seed + 4, 1, 24)
    for kwargs in [
        dict(octaves=2, scale=1.5, steps=3, lr=0.03, jitter=0),
        dict(octaves=3, scale=1.5, steps=2, lr=0.05, jitter=0),  # 24 / 1.5**2 = 10.67: round, not floor
    ]:
        case = ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ", image of shape (1, 3, 24, 24), layer=1"
        got = own_call(DREAM_TASK, deepdream, net, photo.clone(), 1, seed=seed, **kwargs)
        require_tensor(DREAM_TASK, got, (1, 3, 24, 24), case, "the dream")
        require_detached(DREAM_TASK, got, case)
        dreams = expect("visualization", "deepdream", f"seed={seed},{case}", net, photo, 1, seed, **kwargs)
        if close(got, dreams["expected"], 1e-4):
            continue
        with torch.no_grad():
            before = _energy(net, photo, 1)
            after = _energy(net, got.detach(), 1)
        raise CheckFailed(
            DREAM_TASK,
            f"the dream differs from the reference for {case} (energy {before:.4f} -> {after:.4f}): at each octave "
            "resize the image (bilinear, antialias=True), add the resized detail, clip, run the steps, and keep "
            "detail = result - resized image; the sizes are round(H / scale**o) for o = octaves-1, ..., 0",
        )
    # with jitter: the energy must rise, and the same seed must give the same dream
    kwargs = dict(octaves=2, scale=1.5, steps=4, lr=0.05, jitter=2)
    first = own_call(DREAM_TASK, deepdream, net, photo.clone(), 1, seed=seed, **kwargs)
    again = own_call(DREAM_TASK, deepdream, net, photo.clone(), 1, seed=seed, **kwargs)
    require_tensor(DREAM_TASK, first, (1, 3, 24, 24), "jitter=2", "the dream")
    if not torch.equal(first, again):
        raise CheckFailed(
            DREAM_TASK, "two dreams with the same seed differ: draw the shifts from a generator seeded with seed"
        )
    case = ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ", image of shape (1, 3, 24, 24), layer=1"
    dreams = expect("visualization", "deepdream", f"seed={seed},{case}", net, photo, 1, seed, **kwargs)
    if not close(first, dreams["expected"], 1e-4):
        hint = (
            "the shifts are not used: roll the image by (dy, dx) drawn before each step"
            if close(first, dreams["unjittered"], 1e-4)
            else "before each step draw dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() from "
            "g = torch.Generator().manual_seed(seed), and pass (dy, dx) to dream_step"
        )
        raise CheckFailed(DREAM_TASK, f"the dream with jitter=2 differs from the reference.\nLikely mistake: {hint}")
    with torch.no_grad():
        before = _energy(net, photo, 1)
        after = _energy(net, first.detach(), 1)
    if float(after) <= float(before):
        raise CheckFailed(
            DREAM_TASK,
            f"with jitter=2 the layer's energy fell ({before:.4f} -> {after:.4f}).\nLikely mistake: {DESCENT}",
        )
