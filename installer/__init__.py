"""Set-up code: engine virtual environments, torch choice, model downloads. Never imported by the daemon at run time."""
