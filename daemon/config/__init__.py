"""The settings: schema with validators, the file (read, write, reload), the values in use."""
