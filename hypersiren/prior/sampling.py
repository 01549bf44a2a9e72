"""Drawing completions from a prior's sampler (:mod:`hypersiren.prior.sampler`): its training path and its
inference calls, :class:`~hypersiren.prior.model.HyperSiren`'s half that uses the latent."""

from __future__ import annotations

import torch

from hypersiren.prior.latent import Generated, Latent
from hypersiren.prior.rendering import paste_observed
from hypersiren.prior.sampler import SamplerTerms


class Sampling:
    """The sampling methods of a model with ``sampler``, ``model_input``, ``generate`` and ``decode``."""

    def _posterior_latent(
        self, images: torch.Tensor, observed: torch.Tensor, truth: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[Latent, SamplerTerms]:
        """The sampler's training path: a draw of ``q(z | truth, observed)`` through the sampler's encoder."""
        if self.sampler is None:
            raise ValueError("this model has no sampler (config.sampler='none'): there is nothing to train on truth")
        if truth.shape != images.shape:
            raise ValueError(f"truth must be shaped like the images {tuple(images.shape)}, got {tuple(truth.shape)}")
        truth, _ = self.model_input(truth, torch.ones_like(observed))
        images, observed = self.model_input(images, observed)
        contracted = self.sampler.encoder.contract(images, observed)
        mu, logvar = self.sampler.posterior(truth, observed)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        deep = contracted.deep.detach()  # the prior learns the posterior's draws without pulling them
        terms = SamplerTerms(self.sampler.prior.kl(mu, logvar, deep), self.sampler.prior.loss(z.detach(), deep,
                                                                                               generator))  # fmt: skip
        return self.sampler.encoder.expand(contracted, z), terms

    @torch.no_grad()
    def draw(
        self,
        images: torch.Tensor,
        observed: torch.Tensor,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> Generated:
        """``num_samples`` SIRENs per image drawn by the sampler: a :class:`Generated` of ``B K`` (image-major),
        for :meth:`decode` / :meth:`decode_points` (what :meth:`sample` renders).

        Args:
            generator: draws the noise the samples start from (on the model's device); None: the global one.
            noise: that noise itself, ``(B K, sampler_dim, g, g)`` (e.g. each image's from its own generator, so
                its samples do not depend on the batch it is in: :meth:`Sampler.noise`); then ``generator`` is unused.

        Raises:
            ValueError: the model has no sampler.
        """
        if self.sampler is None:
            raise ValueError("this model has no sampler (config.sampler='none'): it completes with its mean only "
                             "(inpaint, render); load a prior trained with one")  # fmt: skip
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        inputs = self.model_input(images, observed)
        contracted = self.sampler.encoder.contract(*inputs).repeat(num_samples)  # (B K, ...): each image K times
        if noise is None:
            noise = self.sampler.noise(len(contracted.deep), inputs[0].shape[-1], generator, contracted.deep.device)
        z = self.sampler.draw(contracted.deep, noise)
        return self.generate(self.sampler.encoder.expand(contracted, z))

    @torch.no_grad()
    def sample(
        self,
        images: torch.Tensor,
        observed: torch.Tensor,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        size: tuple[int, int] | int | None = None,
        chunk: int | None = 8,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw completions: ``(B, K, C, H, W)`` in [-1, 1], each sample a SIREN.

        The randomness enters through the sampler's latent (:mod:`hypersiren.prior.sampler`), never as pixel noise;
        the same generator gives the same samples. With nothing observed it draws new faces. An inference call: no
        autograd history.

        Args:
            images, observed: as for :meth:`inpaint` (another side is resampled to the model's).
            num_samples: ``K`` per image.
            generator: the draws' generator (on the model's device); None: the global one.
            size: None: at the input's side, the observed pixels kept; ``(H', W')`` (or one side): every sample's
                SIREN rendered there, as :meth:`render` does.
            chunk: render this many samples at a time (the same result).
            noise: see :meth:`draw`.

        Raises:
            ValueError: the model has no sampler.
        """
        b, k = len(images), num_samples
        generated = self.draw(images, observed, num_samples, generator, noise)
        if size is not None:
            height, width = (size, size) if isinstance(size, int) else size
            return self.decode(generated, height, width, chunk=chunk).clamp(-1, 1).unflatten(0, (b, k))
        rendered = self.decode(generated, *images.shape[-2:], chunk=chunk)
        repeated = (t.repeat_interleave(k, 0) for t in (images, observed))
        return paste_observed(rendered, *repeated).unflatten(0, (b, k))  # (B, K, C, H, W)
