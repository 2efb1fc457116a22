"""A local AWS for the demo and the tests: moto's server plus what the portal needs from AWS."""
