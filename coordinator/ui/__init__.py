"""What a person sees in the terminal: the live run table and the plan's tables and graphs."""
