"""SMS transports behind one interface: loopback (embedded default), smpp, http."""
