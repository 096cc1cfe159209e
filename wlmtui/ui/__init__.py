"""The console (Textual): panels, modals, themes, keymap and policy saving.

Entry point: :func:`wlmtui.ui.app.run_console`.
"""
