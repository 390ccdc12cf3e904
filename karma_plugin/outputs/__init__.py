"""Everything the tool writes about a dataset: the Hub-ready folder, its card and the kinship
matrix file (the files and folders themselves are written through ``karma_plugin.fs``)."""
