"""The file system, below everything else: files written whole or not at all (``atomic``) and
output folders reserved, staged and published in one step (``staging``). Any layer may use it;
it imports nothing of karma_plugin but ``errors`` and the version."""
