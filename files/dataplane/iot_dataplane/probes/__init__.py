"""The probes, which run against AWS as well as env=local: the smoke probe (``smoke``; the smoke_test role) and the
pipeline benchmark (``bench``; scripts/bench-pipeline, env=local only). They import no stand-in: the local CA's
identity for the MQTT transport comes from the CLI."""
