//! gatecast-tls against real TCP connections, with the test PKI of gatecast-testkit.
mod handshake;
mod reload;
