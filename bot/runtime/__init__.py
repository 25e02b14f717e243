"""Process machinery with no business in it: bounded pools and delayed tasks (pools, created only by
the composition root), and the in-process poll schedule (scheduler).

May import: storage, the standard library, APScheduler."""
