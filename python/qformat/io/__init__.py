"""Files and foreign arrays at the edge of qformat: safetensors/.npz
checkpoints (``stfile``, ``checkpoint``), GGUF files (``gguf``), torch
tensors in and out (``torchio``) and the error statistics of converted
tensors (``stats``). Nothing below this package imports it."""
