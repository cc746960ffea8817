"""Small shared helpers: atomic files and checksums, seeding."""
