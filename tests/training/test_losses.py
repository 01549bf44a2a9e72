"""The prior's training loss: the paper's terms and weights, the official formula, pixel subsets, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from hypersiren import HyperSiren, HyperSirenConfig
from hypersiren.siren.coords import take_pixels
from hypersiren.training.losses import balanced_mean, prior_loss


def _model_and_batch(hypernet: str = "full", device: torch.device | str = "cpu"):
    torch.manual_seed(0)
    model = HyperSiren(HyperSirenConfig.tiny(image_size=8, hypernet=hypernet)).to(device)
    g = torch.Generator().manual_seed(1)
    images = (torch.rand(3, 3, 8, 8, generator=g) * 2 - 1).to(device)
    observed = (torch.rand(3, 1, 8, 8, generator=g) < 0.5).to(device)
    return model, images, observed


def test_terms_are_the_official_image_hypernetwork_loss(device):
    model, images, observed = _model_and_batch(device=device)
    out = model(images, observed)
    loss = prior_loss(out, images)  # the paper's weights: 0.1 and 100
    params = out.generated.params
    official = (  # image_hypernetwork_loss: img MSE + 0.1 latent_loss + 100 hypo_weight_loss
        ((out.images - images) ** 2).mean()
        + 0.1 * torch.mean(out.latent.code**2)
        + 100 * sum(torch.sum(p**2) for p in params.values()) / sum(p.numel() for p in params.values())
    )
    torch.testing.assert_close(loss.total, official)
    torch.testing.assert_close(loss.total, loss.mse + 0.1 * loss.latent_sq + 100 * loss.params_sq)
    assert loss.params_sq > 0 and loss.latent_sq > 0
    assert prior_loss(out, images, latent_reg=0.0, param_reg=0.0).total == loss.mse


def test_pixel_subset_and_gradients():
    model, images, observed = _model_and_batch("film")
    pixels = torch.tensor([0, 9, 63, 30])
    out = model(images, observed, pixels)
    loss = prior_loss(out, take_pixels(images, pixels))  # targets (B, C, S), like the rendering
    full = model(images, observed).images
    expected = ((take_pixels(full, pixels) - take_pixels(images, pixels)) ** 2).mean()
    torch.testing.assert_close(loss.mse, expected)
    loss.total.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad), "every parameter learns"
    with pytest.raises(RuntimeError):
        prior_loss(out, images)  # a full-size target against a subset rendering is an error, not a broadcast


def test_missing_weight_balances_each_image_between_missing_and_observed():
    error = torch.tensor([[[1.0, 1.0, 1.0, 5.0]], [[2.0, 2.0, 2.0, 2.0]], [[3.0, 0.0, 0.0, 0.0]]])  # (B=3, C=1, S=4)
    seen = torch.tensor([[[1, 1, 1, 0]], [[1, 1, 1, 1]], [[0, 0, 0, 0]]], dtype=torch.bool)
    # image 0: 0.8 * 5 + 0.2 * 1; image 1 has no missing pixel: its plain mean 2; image 2 none observed: mean 0.75
    torch.testing.assert_close(balanced_mean(error, seen, 0.8).mean(), torch.tensor((4.2 + 2.0 + 0.75) / 3))
    torch.testing.assert_close(balanced_mean(error, seen, 1.0).mean(), torch.tensor((5.0 + 2.0 + 0.75) / 3))
    with pytest.raises(ValueError, match="missing_weight"):
        balanced_mean(error, seen, 1.5)
    with pytest.raises(ValueError, match="does not match"):
        balanced_mean(error, seen[:, :, :3], 0.5)


def test_missing_weight_in_prior_loss_needs_the_mask_and_reaches_every_parameter():
    model, images, observed = _model_and_batch("film")
    out = model(images, observed)
    with pytest.raises(ValueError, match="seen"):
        prior_loss(out, images, missing_weight=0.5)
    loss = prior_loss(out, images, seen=observed, missing_weight=0.5)
    error = ((out.images - images) ** 2).mean(1)  # (B, H, W)
    m = observed[:, 0]
    expected = torch.stack([0.5 * e[~o].mean() + 0.5 * e[o].mean() for e, o in zip(error, m, strict=True)]).mean()
    torch.testing.assert_close(loss.mse, expected)
    loss.total.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_log_mse_is_the_mean_of_each_images_log_mse_and_weighs_images_by_relative_error():
    model, images, observed = _model_and_batch("film")
    out = model(images, observed)
    per_image = ((out.images - images) ** 2).flatten(1).mean(1)  # (B,)
    loss = prior_loss(out, images, latent_reg=0.0, param_reg=0.0, log_mse=True)
    torch.testing.assert_close(loss.total, torch.log(per_image + 1e-5).mean())
    torch.testing.assert_close(loss.mse, per_image.mean())  # the log still reports the plain MSE
    # d log(e + eps) = de / (e + eps): an image with 100x less error gets ~100x the gradient per unit of error
    target = torch.stack([torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.01)])  # errors 1e-2 and 1e-4
    rendered = torch.zeros_like(target, requires_grad=True)
    fake = out._replace(images=rendered, latent=out.latent.take(0, 2), generated=out.generated.take(0, 2))
    prior_loss(fake, target, latent_reg=0.0, param_reg=0.0, log_mse=True).total.backward()
    per_error = rendered.grad.flatten(1).abs().mean(1) / target.flatten(1)[:, 0]
    torch.testing.assert_close(per_error[1] / per_error[0], torch.tensor((1e-2 + 1e-5) / (1e-4 + 1e-5)))


def test_offgrid_points_have_their_own_data_term():
    """With ``lattice``, each image's lattice error and off-lattice error are terms apart (their log MSEs summed,
    the second weighted), so a nearly complete image still weighs by its own small lattice error."""
    from hypersiren.prior.latent import Generated, Latent
    from hypersiren.prior.model import HyperSirenOutput
    from hypersiren.training.losses import LOG_EPS

    torch.manual_seed(0)
    target = torch.rand(2, 3, 10)
    pred = target + torch.cat([torch.full((2, 3, 4), 0.01), torch.full((2, 3, 6), 0.3)], -1)  # lattice: 4 points
    out = HyperSirenOutput(pred, Latent(torch.zeros(2, 4)), Generated({}, (torch.zeros(2, 8),)))
    terms = prior_loss(out, target, latent_reg=0.0, param_reg=0.0, log_mse=True, lattice=4, offgrid_weight=0.5)
    expected = math.log(0.01**2 + LOG_EPS) + 0.5 * math.log(0.3**2 + LOG_EPS)
    assert terms.total.item() == pytest.approx(expected, rel=1e-5)
    assert terms.mse.item() == pytest.approx(1e-4, rel=1e-4) and terms.offgrid.item() == pytest.approx(0.09, rel=1e-4)
    together = prior_loss(out, target, latent_reg=0.0, param_reg=0.0, log_mse=True).total.item()
    assert together == pytest.approx(math.log((4 * 1e-4 + 6 * 0.09) / 10 + LOG_EPS), rel=1e-5), "without the split"
