"""Running a user's script in a child process and capturing what it trains."""
