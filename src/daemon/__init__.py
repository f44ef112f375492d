"""What both daemons (the controller and the agent) share and write only once: configuration
conventions, logging, the failure policy, the AMQP topology. It imports neither daemon; the
client never imports it."""
