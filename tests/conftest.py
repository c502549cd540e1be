"""Session-wide test configuration shared by every suite."""
