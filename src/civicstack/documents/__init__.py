"""Documents: uploads checked and scanned, encrypted at rest, served only to who may see them."""
