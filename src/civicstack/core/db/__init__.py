"""Database backends of the kernel."""
