"""Modal screens: edit, pin, diff, confirm, help, save as."""
