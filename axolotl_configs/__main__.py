"""`python -m karma_plugin.axolotl_configs`: print the folder holding the shipped configs."""

from importlib.resources import files

if __name__ == "__main__":
    print(files("karma_plugin.axolotl_configs"))
