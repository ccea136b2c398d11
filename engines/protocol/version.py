"""The sisyphus version, its one home: the daemon reports it, our engines advertise it in ``describe``, and
the package's metadata reads it from here (pyproject.toml: ``[tool.hatch.version]``)."""
VERSION = "0.1.0"
