"""The model card (``README.md``) of an export: what the checkpoint is, and only what is known about how it was made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def model_card(config: Mapping[str, Any], num_parameters: int, training: Mapping[str, Any] | None = None) -> str:
    """The ``README.md`` of an export: what the checkpoint is, and only what is known about how it was made.

    Args:
        config: the flat model config.
        num_parameters: parameters of the model.
        training: optional record from the training script: ``data``, ``train_images``, ``val_images``,
            ``steps``, ``batch_size``, ``minutes``, ``device``, ``overrides`` (config fields that differ from
            the defaults) and ``metrics`` (validation, name -> value).
    """
    size = config.get("image_size")
    lines = [
        "---",
        "library_name: hypersiren",
        "license: mit",
        "tags:",
        *(f"- {tag}" for tag in ("siren", "implicit-neural-representation", "hypernetwork", "inpainting")),
        "---",
        "",
        f"# HyperSiren prior, {size}x{size}",
        "",
        "A learned prior over SIRENs (Sitzmann et al. 2020, Sec. 4.4, [arXiv 2006.09661](https://arxiv.org/abs/"
        "2006.09661)): an encoder maps a partly observed image and its `observed` mask to a latent, a hypernetwork "
        "maps the latent to a SIREN, and the SIREN renders the completed image at any resolution. "
        f"Encoder `{config.get('encoder')}`, hypernetwork `{config.get('hypernet')}`, SIREN "
        f"{config.get('hidden_features')} x {config.get('hidden_layers')}, latent {config.get('latent_dim')}; "
        f"{num_parameters / 1e6:.2f} M parameters. Saved locally by `save_pretrained` (safetensors + `config.json`).",
        "",
        "```python",
        "from hypersiren import HyperSiren",
        "",
        'model = HyperSiren.from_pretrained("path/to/this/folder")',
        f"completed = model.inpaint(images, observed)  # (B, {config.get('channels')}, {size}, {size}) in [-1, 1], "
        f"observed (B, 1, {size}, {size}) bool",
        "```",
        "",
        "## Training",
        "",
    ]
    if not training:
        lines.append("No training record was given with this export.")
    else:
        t = training
        lines.append(
            f"- Data: `{t.get('data')}`: {t.get('train_images')} training images, {t.get('val_images')} "
            f"validation images, at {size}x{size}."
        )
        resumed = f" (resumed at step {t['resumed_at']}; the minutes of every run)" if t.get("resumed_at") else ""
        lines.append(
            f"- {t.get('steps')} steps of batch {t.get('batch_size')} in {t.get('minutes', 0):.1f} min "
            f"on {t.get('device')}{resumed}."
        )
        overrides = t.get("overrides") or {}
        if overrides:
            lines.append("- Config fields that differ from the defaults (the run folder's `config.yaml` has all):")
            lines += ["", "```yaml", *(f"{k}: {v}" for k, v in overrides.items()), "```"]
        metrics = t.get("metrics") or {}
        lines += ["", "## Validation metrics", ""]
        if metrics:
            lines.append(
                "MSE on [0, 1] (the paper's: output clipped, all pixels) on the validation images, "
                "with exactly 100 / 1000 random context pixels and with a centred hole of half the side:"
            )
            lines += ["", "| metric | value |", "|---|---|", *(f"| `{k}` | {v:.4f} |" for k, v in metrics.items())]
        else:
            lines.append("None measured (the run ended before its first validation).")
    lines += [
        "",
        "## Licence",
        "",
        "Code: MIT. The weights inherit the terms of the data they were trained on"
        + (f" (`{training.get('data')}`)." if training else "."),
    ]
    return "\n".join(lines) + "\n"
