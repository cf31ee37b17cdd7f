"""Formatting for people: text tables, HTML reports. The only place (with ``plots``) that rounds."""
