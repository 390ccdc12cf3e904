"""Everything the tool writes: atomic files, output folders (reserve, stage, publish), the
Hub-ready dataset folder, its card and the kinship matrix file."""
