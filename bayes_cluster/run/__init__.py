"""The run of a spec.

TOML spec validation (``spec``), what a survey can support (``feasibility``), the
pipeline of sections, the report, the Methods text, and the safety rules (output-folder
ownership, Ctrl-C).

May import every layer below it (``common`` .. ``plots``), never ``studies`` or the CLI.
"""
