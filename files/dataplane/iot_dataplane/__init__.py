"""The data plane's code, in three packages by job, with one command line (``cli``):

- ``local_aws``: env=local's stand-ins for what the local AWS endpoint does not run (the local CA, the broker's
  configuration, the gate, the bridge, the poller, the CRL sync, the shadow relay, the live page);
- ``devices``: the device side (the fleet simulator, the devices' rotation agents and key store), for AWS or env=local;
- ``probes``: the smoke probe and the pipeline benchmark, which also run against AWS.

``shared`` and ``topics`` hold what they share. The device side and the probes import no stand-in
(tests/unit/dataplane/test_layout.py). Python 3.9+, boto3, paho-mqtt, cryptography and orjson."""
