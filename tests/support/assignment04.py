"""Typical mistakes in Assignment 4, each made from the instructor's solution by one edit.

For each: the solution-cell edits, the graded cells that must lose their points (worked out by hand from what
each test checks), and a phrase the feedback must contain to name the mistake. The checks use their own seeded
networks, so no mistake's cost depends on training.
"""

from __future__ import annotations

from .nbcourse import Mistake, Mutation

ASSIGNMENT = NOTEBOOK = "04_visualization"


def cells(*names: str) -> frozenset[str]:
    """The visible and hidden test cells of each task."""
    return frozenset(f"test_{n}{suffix}" for n in names for suffix in ("", "_hidden"))


MISTAKES = [
    Mistake(
        "filters_normalised_over_the_whole_tensor",
        (
            Mutation(
                "filter_grid",
                "flat = tiles.reshape(len(tiles), -1)",
                "flat = tiles.reshape(1, -1).expand(len(tiles), -1)",
            ),
        ),
        cells("filter_grid"),
        "normalised over the whole tensor instead of per filter",
    ),
    Mistake(
        "dilation_ignored",
        (Mutation("receptive_field_box", "r += dilation * (k - 1) * j", "r += (k - 1) * j"),),
        # top_k_patches crops with the student's receptive_field_box, and its checks use dilated layers
        cells("receptive_field_box", "top_k_patches"),
        "dilation ignored",
    ),
    Mistake(
        "jump_not_multiplied",
        (Mutation("receptive_field_box", "r += dilation * (k - 1) * j", "r += dilation * (k - 1)"),),
        cells("receptive_field_box", "top_k_patches"),
        "the jump not multiplied",
    ),
    Mistake(
        "several_patches_from_one_image",
        (
            Mutation(
                "top_k_patches",
                "value, where = fmap.flatten(1).max(dim=1)  # each image's strongest position\n"
                "    order = value.argsort(descending=True)[:k]\n"
                "    flat = where[order]",
                "best = fmap.flatten().topk(k).indices  # the k strongest positions over all images\n"
                "    order, flat = best // fmap[0].numel(), best % fmap[0].numel()",
            ),
        ),
        cells("top_k_patches"),
        "several patches from the same image",
    ),
    Mistake(
        "gradient_descent_instead_of_ascent",
        (Mutation("class_maximisation", "(-objective.sum()).backward()", "objective.sum().backward()"),),
        cells("class_maximisation"),
        "gradient descent instead of ascent",
    ),
    Mistake(
        "regulariser_with_the_wrong_sign",
        (Mutation("class_maximisation", "return score - lam * penalty(x)", "return score + lam * penalty(x)"),),
        cells("class_maximisation"),
        "regulariser added with the wrong sign",
    ),
    Mistake(
        "dream_step_without_normalisation",
        (
            Mutation(
                "deepdream",
                "return (x + lr * grad / (grad.abs().mean() + 1e-8)).clamp(0, 1).detach()",
                "return (x + lr * grad).clamp(0, 1).detach()",
            ),
        ),
        cells("deepdream"),
        "without gradient normalisation",
    ),
    Mistake(
        "saliency_of_the_softmax_probability",
        (Mutation("saliency", "logits = model(x)", "logits = model(x).softmax(dim=1)"),),
        cells("saliency"),
        "softmax probability instead of the logit",
    ),
    Mistake(
        "saliency_without_abs",
        (Mutation("saliency", "return x.grad.abs().amax(dim=1)", "return x.grad.amax(dim=1)"),),
        cells("saliency"),
        "no absolute value",
    ),
    Mistake(
        "saliency_in_train_mode",
        (Mutation("saliency", "    model.eval()\n", ""),),
        cells("saliency"),
        "model left in train mode",
    ),
    Mistake(
        "occlusion_sign_reversed",
        (
            Mutation(
                "occlusion",
                "drop = base - model(batch).softmax(dim=1)[:, label]",
                "drop = model(batch).softmax(dim=1)[:, label] - base",
            ),
        ),
        cells("occlusion"),
        "sign reversed",
    ),
    Mistake(
        "occlusion_window_misaligned",
        (
            Mutation(
                "occlusion",
                "heat[i:i + patch, j:j + patch] += d\n        hits[i:i + patch, j:j + patch] += 1",
                "half = patch // 2  # (i, j) taken as the square's centre\n"
                "        heat[max(i - half, 0):i - half + patch, max(j - half, 0):j - half + patch] += d\n"
                "        hits[max(i - half, 0):i - half + patch, max(j - half, 0):j - half + patch] += 1",
            ),
        ),
        cells("occlusion"),
        "misaligned by half a patch",
    ),
]

#: The mistakes graded end to end (tests/test_assignment_04.py): one per task (each graded submission costs CI
#: about 10 s); the others, the train-mode one included, are shown in-process by tests/test_checks_visualization.py.
E2E_NAMES = {
    "filters_normalised_over_the_whole_tensor",
    "dilation_ignored",
    "several_patches_from_one_image",
    "gradient_descent_instead_of_ascent",
    "dream_step_without_normalisation",
    "saliency_of_the_softmax_probability",
    "occlusion_sign_reversed",
}
E2E_MISTAKES = [m for m in MISTAKES if m.name in E2E_NAMES]
