"""The fppdl party: keys, chain bindings, the protocol, onion encryption and the CLI."""
