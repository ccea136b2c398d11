"""CPU engines: requirement files for the upstream Wyoming servers (no code of ours runs there)."""
