"""Typical mistakes in Assignment 3, each made from the instructor's solution by one edit.

For each: the solution-cell edits, the graded cells that must lose their points (worked out by hand from
what each test checks), those that may (a mistake that changes the trained network may cost accuracy), and a
phrase the feedback must contain to name the mistake.
"""

from __future__ import annotations

from .nbcourse import Mistake, Mutation

ASSIGNMENT = NOTEBOOK = "03_architectures"
ACCURACY_CELLS = frozenset({"test_accuracy_val", "test_accuracy_hidden_1", "test_accuracy_hidden_2"})

MISTAKES = [
    Mistake(
        "shortcut_missing_at_stride_2",
        (Mutation("basic_block", "if stride != 1 or in_ch != out_ch:", "if in_ch != out_ch:"),),
        frozenset({"test_basic_block", "test_basic_block_hidden"}),
        "no shortcut projection when the stride is 2",
    ),
    Mistake(
        "relu_before_addition",
        (
            Mutation(
                "basic_block",
                "out = self.bn2(self.conv2(out))\n        return F.relu(out + self.shortcut(x))",
                "out = F.relu(self.bn2(self.conv2(out)))\n        return out + self.shortcut(x)",
            ),
        ),
        frozenset({"test_basic_block", "test_basic_block_hidden"}),
        "ReLU placed before the addition",
        may_fail=ACCURACY_CELLS,
    ),
    Mistake(
        "inception_biases_not_counted",
        (
            Mutation(
                "inception_params",
                "return (in_ch * c1 + c1) + (9 * in_ch * c3 + c3) + (25 * in_ch * c5 + c5)",
                "return in_ch * c1 + 9 * in_ch * c3 + 25 * in_ch * c5",
            ),
            Mutation(
                "inception_params",
                "return ((in_ch * c1 + c1) + (in_ch * c3r + c3r) + (9 * c3r * c3 + c3)\n"
                "            + (in_ch * c5r + c5r) + (25 * c5r * c5 + c5) + (in_ch * pool_proj + pool_proj))",
                "return (in_ch * c1 + in_ch * c3r + 9 * c3r * c3 + in_ch * c5r + 25 * c5r * c5\n"
                "            + in_ch * pool_proj)",
            ),
        ),
        # the visible Inception test compares the module with the formula
        frozenset({"test_inception_params", "test_inception_params_hidden", "test_inception"}),
        "biases not counted",
    ),
    Mistake(
        "dense_concatenated_in_wrong_order",
        (Mutation("dense_block", "x = torch.cat([x, layer(x)], dim=1)", "x = torch.cat([layer(x), x], dim=1)"),),
        frozenset({"test_dense_block", "test_dense_block_hidden"}),
        "concatenated in the wrong order",
    ),
    Mistake(
        "transition_max_pooling",
        (Mutation("transition", "nn.AvgPool2d(2)", "nn.MaxPool2d(2)"),),
        frozenset({"test_transition", "test_transition_hidden"}),
        "max pooling",
    ),
    Mistake(
        "mask_interpolated_bilinearly",
        (
            Mutation(
                "geometric",
                'mask = F.grid_sample(mask[None, None].float(), grid, mode="nearest"',
                'mask = F.grid_sample(mask[None, None].float(), grid, mode="bilinear"',
            ),
        ),
        # random_augment rotates with the student's rotate
        frozenset({"test_geometric", "test_geometric_hidden", "test_random_augment", "test_random_augment_hidden"}),
        "bilinear interpolation on the mask",
    ),
    Mistake(
        "mask_with_its_own_random_parameters",
        (
            Mutation(
                "random_augment",
                "image, mask = resized_crop(image, mask, randint(0, h - ch), randint(0, w - cw), ch, cw, h)",
                "image, _ = resized_crop(image, mask, randint(0, h - ch), randint(0, w - cw), ch, cw, h)\n"
                "    _, mask = resized_crop(image, mask, randint(0, h - ch), randint(0, w - cw), ch, cw, h)",
            ),
        ),
        frozenset({"test_random_augment", "test_random_augment_hidden"}),
        "different random parameters",
    ),
    Mistake(
        "batchnorm_in_train_mode_at_evaluation",
        (Mutation("evaluate", "    model.eval()\n", ""),),
        frozenset({"test_evaluate"}),
        "train mode",
    ),
    Mistake(
        "gradients_never_reset",
        (Mutation("train", "        optimizer.zero_grad()\n", ""),),
        frozenset({"test_train"}),
        "zero_grad() is missing",
        may_fail=ACCURACY_CELLS,
    ),
    Mistake(
        "adam_instead_of_adamw",
        (Mutation("train", "torch.optim.AdamW(", "torch.optim.Adam("),),
        frozenset({"test_train"}),
        "the task asks for AdamW",
        may_fail=ACCURACY_CELLS,
    ),
    Mistake(
        "batches_from_the_global_random_state",
        (Mutation("train", "(budget.batch_size,), generator=g)", "(budget.batch_size,))"),),
        frozenset({"test_train"}),
        "drawn from the global random state",
        may_fail=ACCURACY_CELLS,
    ),
    Mistake(
        "augmentation_without_turns",
        (Mutation("train", "torch.randint(0, 4, (len(images),)", "torch.randint(0, 1, (len(images),)"),),
        frozenset({"test_train"}),
        "quarter turns (torch.rot90) are missing",
        may_fail=ACCURACY_CELLS,
    ),
]

#: The mistakes graded end to end (tests/test_assignment_03.py): those the assignment's issue names, and the dense
#: block's. The others (the Inception count without biases, max pooling in the transition, the training loop's)
#: are shown by tests/test_checks_architectures.py in-process: each graded submission trains a network for ~30 s
#: of CI time.
IN_PROCESS_ONLY = {
    "inception_biases_not_counted",
    "transition_max_pooling",
    "gradients_never_reset",
    "adam_instead_of_adamw",
    "batches_from_the_global_random_state",
    "augmentation_without_turns",
}
E2E_MISTAKES = [m for m in MISTAKES if m.name not in IN_PROCESS_ONLY]
