"""env=local's stand-ins for what the local AWS endpoint does not run: the local CA (``local_ca``), the broker's
configuration (``broker``), the gate on the region's MQTT port (``gate``), the bridge MQTT -> Kinesis with the
rotation shadow's relay (``bridge``, ``shadow``) and certificate status sync (``crlsync``), the poller Kinesis ->
lambda_handler (``poller``), the live page (``liveview``); their subcommands in ``commands``. Never loaded on AWS."""
