"""Project-wide test fixtures."""
