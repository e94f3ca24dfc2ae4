"""Executable tasks out of ise-trace into other harnesses' formats (Harbor task folders)."""

from .harbor import ExportSettings, export_tasks, task_folder_name, write_task
from .source import TaskSource, load_task_source

__all__ = ["ExportSettings", "TaskSource", "export_tasks", "load_task_source", "task_folder_name", "write_task"]
