"""Modal screens: edit, pin, diff, confirm, help, save as."""


def show_error(err, message: str) -> None:
    """Show a field's validation message under it (``↳ …``), or hide the line."""
    err.update(f"↳ {message}" if message else "")
    err.display = bool(message)
