"""GPU memory: the pure policy, the monitors, the manager that applies them, the one NVML probe."""
