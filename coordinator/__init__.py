"""worktree-coordinator: run many coding agents on one git repository at once.

Each task gets its own git worktree and branch; finished branches are merged back into an
integration branch one at a time, dependencies first, as reviewable merge commits.
"""

__version__ = "0.1.0"
