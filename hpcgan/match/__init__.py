"""The ``match`` stage: two survey catalogs paired by position into the catalog preprocess reads.

Modules: ``run`` (read, match, split, write), ``cli`` (the command)."""
