"""Platform integrations: hotkey, tray, autostart; each a neutral base, one module per OS, a dummy."""
