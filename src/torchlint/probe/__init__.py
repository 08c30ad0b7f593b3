"""The runtime probe: confirms findings by running the user's model in a sandbox."""
