"""Thin I/O adapters, one door each: git, worktrees, agent processes, markers, the store."""
