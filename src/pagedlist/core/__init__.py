"""The core: store protocol, sans-IO list algorithms, driver and sizing. No SDK, no I/O."""
