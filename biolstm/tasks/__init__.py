"""Tasks and data sets (sequential MNIST, ...)."""
