"""Process plumbing of the controller: its child processes (the scheduler and the outbox relay),
how they are started, restarted and stopped with the controller, the shared-memory load board
the scheduler process reads, and the runtime tuning every controller process shares."""
