"""Response pools in: readers that turn a pool (local file, folder, Hub dataset) into the flat
columns the core works on."""
