"""The device side: the sensor fleet simulator (``simulator``) and each device's certificate rotation agent with its
key store (``rotation_agent``). Runs against AWS IoT Core or the local stand-ins alike; imports no stand-in
(tests/unit/dataplane/test_layout.py). Its identity on env=local (the local CA's certificates) is handed in by the CLI.

This file holds only the device side's vocabulary, so that the CLI can offer it without loading the device code."""

# How a gateway lays out its readings (the telemetry contract's two batch forms).
GATEWAY_FORMATS = ("columns", "readings")
# The malformed messages a scenario can inject (simulator.MALFORMED_KINDS builds them; the processor's quarantine reasons).
MALFORMED = ("avg_speed_kmh", "bad_json", "sensor_id", "ts_future", "vehicle_count")
# The ways a test device can misbehave during a rotation (rotation_agent.RotationAgent).
BEHAVIOURS = ("ignore", "no_install", "garbage_csr", "wrong_subject", "weak_rsa", "bad_curve")
