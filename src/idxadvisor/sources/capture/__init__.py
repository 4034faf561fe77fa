"""Runtime capture: :mod:`.launcher` runs a command with :mod:`.runtime` recording every SQL
statement into a :mod:`.workload_file`, which the reader there turns back into statements."""
