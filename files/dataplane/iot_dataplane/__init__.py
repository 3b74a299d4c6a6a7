"""The env=local data plane: the local CA, the broker configuration, the bridge, the poller, the simulator, the smoke
probe and the pipeline benchmark. Python 3.9+, boto3, paho-mqtt, cryptography and orjson."""
