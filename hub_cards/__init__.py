"""Package data (shipped with the wheel); see importlib.resources."""
