"""DiffAugment: each augmentation does what it says, differentiably and reproducibly."""

from __future__ import annotations

import pytest
import torch

from gan.augment import _cut, _translate, diff_augment
from gan.config import AUGMENTATIONS

ALL = list(AUGMENTATIONS)


def _images(batch: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_empty_policy_returns_the_input_itself() -> None:
    x = _images()

    assert diff_augment(x, []) is x
    assert diff_augment(x, ()) is x


def test_unknown_augmentation_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="'rotation'"):
        diff_augment(_images(), ["color", "rotation"])


def test_comma_separated_policy_string_is_read_like_the_list() -> None:
    x = _images()

    from_string = diff_augment(x, "color,cutout", generator=torch.Generator().manual_seed(2))
    from_list = diff_augment(x, ["color", "cutout"], generator=torch.Generator().manual_seed(2))

    assert torch.equal(from_string, from_list)


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ALL])
def test_same_generator_state_gives_the_same_augmentation(policy: list[str]) -> None:
    x = _images(batch=8)
    gen = torch.Generator().manual_seed(11)
    state = gen.get_state()

    first = diff_augment(x, policy, generator=gen)
    second = diff_augment(x, policy, generator=gen)  # the generator has moved on
    gen.set_state(state)  # as when training resumes from a checkpoint
    replay = diff_augment(x, policy, generator=gen)

    assert torch.equal(first, replay)
    assert not torch.equal(first, second)
    assert not torch.equal(first, x)


def test_without_a_generator_the_global_rng_decides() -> None:
    x = _images()

    torch.manual_seed(3)
    first = diff_augment(x, ALL)
    torch.manual_seed(3)
    second = diff_augment(x, ALL)

    assert torch.equal(first, second)


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ALL])
def test_gradients_flow_back_to_the_images(policy: list[str]) -> None:
    x = _images().requires_grad_(True)

    diff_augment(x, policy, generator=torch.Generator().manual_seed(0)).square().sum().backward()

    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_translate_moves_content_and_fills_with_zeros() -> None:
    x = torch.arange(1, 2 * 2 * 6 * 6 + 1, dtype=torch.float32).reshape(2, 2, 6, 6)

    out = _translate(x, dy=torch.tensor([2, -1]), dx=torch.tensor([-3, 0]))

    # Sample 0: content 2 rows down and 3 columns left.
    assert torch.equal(out[0, :, 2:, :3], x[0, :, :4, 3:])
    assert (out[0, :, :2, :] == 0).all()
    assert (out[0, :, :, 3:] == 0).all()
    # Sample 1: content 1 row up.
    assert torch.equal(out[1, :, :5, :], x[1, :, 1:, :])
    assert (out[1, :, 5, :] == 0).all()


def test_random_translation_moves_each_image_by_at_most_an_eighth() -> None:
    x = torch.zeros(32, 3, 32, 32)
    x[:, :, 16, 16] = 1.0  # one lit pixel to follow; an eighth of 32 is 4

    out = diff_augment(x, ["translation"], generator=torch.Generator().manual_seed(0))

    lit = out[:, 0].flatten(1).argmax(dim=1)
    rows, cols = lit // 32, lit % 32
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.full((32,), 3.0))  # moved, not lost
    assert ((rows - 16).abs() <= 4).all()
    assert ((cols - 16).abs() <= 4).all()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 5  # shifts vary per image


def test_cut_zeroes_exactly_the_given_square() -> None:
    x = torch.ones(1, 3, 8, 8)

    out = _cut(x, top=torch.tensor([2]), left=torch.tensor([3]), size_y=4, size_x=4)

    assert (out[0, :, 2:6, 3:7] == 0).all()
    assert out.sum().item() == 3 * (64 - 16)


def test_random_cutout_zeroes_a_half_size_square_clipped_only_by_the_border() -> None:
    size, half = 16, 8
    out = diff_augment(
        torch.ones(64, 3, size, size), ["cutout"], generator=torch.Generator().manual_seed(0)
    )

    full_squares = 0
    for image in out:
        assert torch.equal(image[0], image[1])
        assert torch.equal(image[0], image[2])
        zero = (image[0] == 0).nonzero()
        top, left = zero.min(dim=0).values.tolist()
        bottom, right = (zero.max(dim=0).values + 1).tolist()
        height, width = bottom - top, right - left
        assert len(zero) == height * width  # a solid rectangle
        assert height == half or top == 0 or bottom == size  # shorter only where clipped
        assert width == half or left == 0 or right == size
        full_squares += height == half and width == half
    assert full_squares > 10


def test_color_changes_values_but_not_shape() -> None:
    x = _images()

    out = diff_augment(x, ["color"], generator=torch.Generator().manual_seed(0))

    assert out.shape == x.shape
    assert (out - x).abs().mean() > 0.05
    # Brightness, saturation and contrast are per sample: each image gets its own change.
    per_image_change = (out - x).mean(dim=(1, 2, 3))
    assert per_image_change.unique().numel() == x.shape[0]


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ALL])
def test_channels_last_input_gives_the_same_images_in_channels_last(policy: list[str]) -> None:
    x = _images(batch=4, size=16)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    out = diff_augment(x, policy, generator=torch.Generator().manual_seed(4))
    out_cl = diff_augment(x_cl, policy, generator=torch.Generator().manual_seed(4))

    torch.testing.assert_close(out_cl, out)
    assert out_cl.is_contiguous(memory_format=torch.channels_last)
