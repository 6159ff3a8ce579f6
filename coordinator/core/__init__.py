"""The pure core: specs, footprints, the DAG, conflicts, the scheduling policy and simulation.

Nothing in this package touches the disk, the clock, threads, processes or git; every input
arrives as a value, so all of it is testable in milliseconds.
"""
