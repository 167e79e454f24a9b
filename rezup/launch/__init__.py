"""Shell launch scripts (package data): they run the user's rc files, then set the prompt."""
