"""Stage E: every tool call runs in a live, isolated Docker workspace.

- `image`: the workspace image (debootstrap base + sandbox/Dockerfile), tagged by content hash.
- `workspace`: one locked-down container driven through its resident daemon.
- `pool`: warm workspaces, reset between episodes.
- `tools`: the agent's tools (OpenAI schemas) and their execution.
- `gc`: removal of leaked containers.
"""

from .image import build_image, require_image, sandbox_image_tag
from .pool import WorkspacePool
from .tools import TOOL_SCHEMAS, TOOLS, ToolResult, run_tool
from .workspace import CommandResult, Workspace

__all__ = [
    "CommandResult",
    "TOOL_SCHEMAS",
    "TOOLS",
    "ToolResult",
    "Workspace",
    "WorkspacePool",
    "build_image",
    "require_image",
    "run_tool",
    "sandbox_image_tag",
]
