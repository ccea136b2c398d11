"""What can be asked of the running daemon: the command table and what each command does."""
