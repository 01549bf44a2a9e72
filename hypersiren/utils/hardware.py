"""What the machine computes fast: whether bfloat16 matmuls are native here (a choice of dtype, not a guess)."""

from __future__ import annotations

import torch


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 matmuls in hardware: a CUDA GPU with bf16, or a CPU with AMX-BF16 or
    AVX512-BF16 (oneDNN's check). Elsewhere (an AVX2 CPU) bf16 is emulated and several times slower than fp32
    (measured on a 2-core AMD EPYC Zen 3: 14x slower for a 64x64 prior's training step)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False
