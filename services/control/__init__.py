"""Control: ramp-limited setpoint changes through a plant's gateway, authorised,
interlocked and audited (issue 8). `plan` shapes a ramp, `ramp` is its state machine,
`runtime` drives it, `bus` carries commands over MQTT, `router` is the API."""
